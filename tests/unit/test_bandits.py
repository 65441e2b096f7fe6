"""Bandit playground backend: instances, baselines, the paper's statistics, prompt codes, parsing."""
import numpy as np
import pytest

from backends import bandits as B
from backends.config import InputError
from tests.bandit_helpers import check_llm_run


def _runs(choices, rewards=None, means=(0.4, 0.6, 0.4)):
    choices = np.asarray(choices)
    rewards = np.zeros_like(choices) if rewards is None else np.asarray(rewards)
    return B.Runs("hand-made", B.make_instance(means=means), choices, rewards, seed=0)


# ---- instances -------------------------------------------------------------------------


def test_paper_instances_have_the_papers_means():
    hard = B.make_instance("hard", seed=3)
    assert hard.k == 5 and sorted(hard.means) == [0.4, 0.4, 0.4, 0.4, 0.6]
    easy = B.make_instance("easy", seed=3)
    assert easy.k == 4 and sorted(easy.means) == [0.25, 0.25, 0.25, 0.75]
    # the best arm's position comes from the seed
    positions = {B.make_instance("hard", seed=s).best for s in range(30)}
    assert len(positions) > 1
    assert B.make_instance("hard", seed=5) == B.make_instance("hard", seed=5)


def test_custom_instances_and_their_validation():
    inst = B.make_instance(k=3, delta=0.4)
    assert sorted(inst.means) == pytest.approx([0.3, 0.3, 0.7])
    assert B.make_instance(means=[0.1, 0.9, 0.5]).best == 1
    with pytest.raises(InputError, match="between 0.0 and 1.0"):
        B.make_instance(means=[0.2, 1.3])
    with pytest.raises(InputError, match="Number of arms"):
        B.make_instance(means=[0.5])
    with pytest.raises(InputError, match="same mean"):
        B.make_instance(means=[0.5, 0.5])
    with pytest.raises(InputError, match="share the highest"):
        B.make_instance(means=[0.2, 0.7, 0.7])
    with pytest.raises(InputError, match="K must be between 2"):
        B.make_instance(k=1, delta=0.2)
    with pytest.raises(InputError, match="greater than 0"):
        B.make_instance(k=3, delta=0)
    with pytest.raises(InputError, match="finite"):
        B.make_instance(k=3, delta=float("nan"))
    with pytest.raises(InputError, match="Unknown instance"):
        B.make_instance("medium")
    assert B.parse_means("0.3, 0.5 0.7") == [0.3, 0.5, 0.7]
    with pytest.raises(InputError, match="not a number"):
        B.parse_means("0.3, abc")


# ---- statistics on hand-made choices ------------------------------------------------------


def test_suffix_failure_frequency_known_values():
    # best arm is 1. Replicate 0 plays it only in round 2; replicate 1 in round 6; replicate 2 never.
    ch = [[0, 1, 0, 0, 2, 0], [0, 0, 2, 2, 0, 1], [0, 2, 0, 2, 0, 2]]
    sf = B.suffix_failure(np.asarray(ch), best=1)
    assert sf[0].tolist() == [0, 0, 1, 1, 1, 1]
    assert sf[1].tolist() == [0, 0, 0, 0, 0, 0]
    assert sf[2].tolist() == [1, 1, 1, 1, 1, 1]
    stats = B.failure_stats(_runs(ch))
    assert stats.t_half == 3
    assert stats.suff_fail_freq == pytest.approx(2 / 3)  # SuffFail(3, R) = 1, 0, 1
    assert stats.suff_fail_curve.tolist() == pytest.approx([1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3, 2 / 3])


def test_k_min_frac_known_values():
    # K = 3. Rep 0 uniform (each arm twice in 6 rounds) -> MinFrac(6) = 1/3; rep 1 never plays arm 2 -> 0.
    ch = np.asarray([[0, 1, 2, 0, 1, 2], [0, 1, 0, 1, 0, 1]])
    mf = B.min_fraction(ch, 3)
    assert mf[0].tolist() == pytest.approx([0, 0, 1 / 3, 1 / 4, 1 / 5, 1 / 3])
    assert mf[1].tolist() == pytest.approx([0] * 6)
    stats = B.failure_stats(_runs(ch))
    assert stats.k_min_frac == pytest.approx(3 * (1 / 3 + 0) / 2)  # = 0.5


def test_greedy_frac_and_median_reward_known_values():
    # K = 3, one replicate. Round 1: nothing tried (not counted). Round 2: arm 1 untried, arm 0 has mean 1,
    # so playing arm 1 is not greedy. Round 3: means 0: 1, 1: 0 -> arm 0 greedy. Round 4: means 0: 0.5 -> arm 0
    # (0.5) vs arm 1 (0): greedy. Round 5: arm 2 untried -> arm 2 not greedy.
    ch = np.asarray([[0, 1, 0, 0, 2]])
    rw = np.asarray([[1, 0, 0, 1, 1]])
    assert B.greedy_fraction(ch, rw, 3).tolist() == pytest.approx([2 / 4])
    # median over replicates of the average reward
    ch3 = np.zeros((3, 4), dtype=int)
    rw3 = np.asarray([[1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 0, 0]])
    stats = B.failure_stats(_runs(ch3, rw3))
    assert stats.median_reward == pytest.approx(0.25)
    assert stats.mean_reward == pytest.approx(5 / 12)


def test_regret_and_best_arm_fraction():
    ch = np.asarray([[1, 0, 1, 2]])  # best arm 1 with mean 0.6; others 0.4
    stats = B.failure_stats(_runs(ch))
    assert stats.regret_mean.tolist() == pytest.approx([0, 0.2, 0.2, 0.4])
    assert stats.best_frac_curve.tolist() == pytest.approx([1, 0.5, 2 / 3, 0.5])
    assert stats.final_regret == pytest.approx(0.4) and stats.best_arm_frac == pytest.approx(0.5)


# ---- baselines -----------------------------------------------------------------------------


def test_baselines_on_the_easy_instance_behave_as_in_the_paper():
    inst = B.make_instance("easy", seed=0)
    sff = {a: B.failure_stats(B.run_baseline(a, inst, horizon=100, replicates=1000, seed=0)).suff_fail_freq
           for a in ("ucb", "ts", "greedy")}
    assert sff["ucb"] < 0.02 and sff["ts"] < 0.02
    assert sff["greedy"] > 0.1 and sff["greedy"] > 5 * max(sff["ucb"], sff["ts"], 0.01)


def test_baselines_are_deterministic_under_a_seed_and_share_the_reward_table():
    inst = B.make_instance("hard", seed=1)
    a = B.run_baseline("ts", inst, horizon=50, replicates=20, seed=7)
    b = B.run_baseline("ts", inst, horizon=50, replicates=20, seed=7)
    c = B.run_baseline("ts", inst, horizon=50, replicates=20, seed=8)
    assert np.array_equal(a.choices, b.choices) and np.array_equal(a.rewards, b.rewards)
    assert not np.array_equal(a.choices, c.choices)
    table = B.reward_table(inst, 50, 20, 7)
    u = B.run_baseline("ucb", inst, horizon=50, replicates=20, seed=7)
    rows = np.arange(20)[:, None]
    assert np.array_equal(u.rewards, table[rows, np.arange(50)[None, :], u.choices])


def test_ucb_and_greedy_play_each_arm_once_first_and_ucb_follows_its_index():
    inst = B.make_instance(means=[0.2, 0.8, 0.5])
    for agent in ("ucb", "greedy", "egreedy"):
        run = B.run_baseline(agent, inst, horizon=10, replicates=5, seed=0)
        assert (run.choices[:, :3] == np.arange(3)).all()
    run = B.run_baseline("ucb", inst, horizon=30, replicates=4, seed=0, c=1.0)
    for r in range(4):  # replay the index by hand
        pulls, wins = np.zeros(3), np.zeros(3)
        for t in range(30):
            a = run.choices[r, t]
            if t >= 3:
                index = wins / pulls + np.sqrt(1.0 / pulls)
                assert index[a] == pytest.approx(index.max())
            pulls[a] += 1
            wins[a] += run.rewards[r, t]


def test_baseline_input_validation():
    inst = B.make_instance("hard")
    with pytest.raises(InputError, match="Unknown baseline"):
        B.run_baseline("oracle", inst)
    with pytest.raises(InputError, match="Horizon T"):
        B.run_baseline("ucb", inst, horizon=0)
    with pytest.raises(InputError, match="Replicates N"):
        B.run_baseline("ucb", inst, replicates=-3)
    with pytest.raises(InputError, match="ε"):
        B.run_baseline("egreedy", inst, epsilon=2)


# ---- prompt designs ------------------------------------------------------------------------


def test_there_are_72_codes_and_every_one_renders():
    codes = B.all_codes()
    assert len(codes) == 72 and "BNRN0" in codes and "BSSC~0" in codes and "ASRCD" in codes
    for code in codes:
        pc = B.parse_code(code)
        for hist in ([], [(0, 1), (2, 0), (0, 0)]):
            msgs = B.render_prompt(code, 5, 100, hist)
            assert msgs["system"] and msgs["user"]
            labels = pc.labels(5)
            assert all(lab in msgs["system"] for lab in labels)
            assert f"round {len(hist) + 1} of 100" in msgs["user"]
            if pc.framing == "S":
                assert "explore" in msgs["system"]
            else:
                assert "explore" not in msgs["system"]
            assert ("step by step" in msgs["system"]) == (pc.reasoning != "N")
            assert ("Remember to think step by step" in msgs["user"]) == (pc.reasoning == "C~")
            assert ("probability for every" in msgs["system"]) == (pc.output == "D")


def test_history_rendering_raw_and_summarised():
    hist = [(0, 1), (2, 0), (0, 0)]
    raw = B.render_prompt("BNRN0", 3, 10, hist)["user"]
    assert "1: blue, 1" in raw and "2: red, 0" in raw and "3: blue, 0" in raw
    assert "total reward so far is 1" in raw
    summ = B.render_prompt("ANSN0", 3, 10, hist)["user"]
    assert "A: shown 2 times, average reward 0.50" in summ and "B: shown 0 times" in summ
    assert "C: shown 1 time, average reward 0.00" in summ


@pytest.mark.parametrize("bad", ["", "BNRN", "XNRN0", "BNRC~2", "BNRN0X", None, 42])
def test_unknown_codes_are_refused_with_the_grammar(bad):
    with pytest.raises(InputError, match="five parts"):
        B.parse_code(bad)


def test_code_properties():
    assert not B.parse_code("BNRN0").generates and B.parse_code("BNRN0").temperature == 0
    assert B.parse_code("BNRN1").temperature == 1 and B.parse_code("bnrnd").generates
    assert B.parse_code("BSSC~0").reasoning == "C~" and B.parse_code("BSSC~0").generates


# ---- parsing answers -----------------------------------------------------------------------


def test_parse_choice():
    labels = B.BUTTON_LABELS[:5]
    assert B.parse_choice("I think red is good. <Answer>Blue</Answer>", labels) == (0, "ok")
    assert B.parse_choice("Let me pick green, then purple", labels) == (4, "lenient")
    assert B.parse_choice("no idea", labels) == (None, "fallback")
    assert B.parse_choice("<Answer>bluebird</Answer>", labels) == (None, "fallback")
    assert B.parse_choice("<Answer>C</Answer>", B.AD_LABELS[:5]) == (2, "ok")
    # a lone lower-case 'a' is an article, not advertisement A
    assert B.parse_choice("a good choice", B.AD_LABELS[:5]) == (None, "fallback")


def test_parse_distribution():
    labels = B.BUTTON_LABELS[:3]
    p, how = B.parse_distribution("<Answer>blue:0.2, green:0.5, red:0.3</Answer>", labels)
    assert how == "ok" and p.tolist() == pytest.approx([0.2, 0.5, 0.3])
    p, how = B.parse_distribution("blue: 20%, red = 60%", labels)
    assert how == "lenient" and p.tolist() == pytest.approx([0.25, 0, 0.75])
    p, how = B.parse_distribution("<Answer>blue:0, green:0</Answer>", labels)
    assert p is None and how == "fallback"


def test_runs_table_has_one_row_per_decision():
    run = B.run_baseline("greedy", B.make_instance("easy"), horizon=7, replicates=3, seed=0)
    rows = B.runs_table([run])
    assert len(rows) == 21 and rows[0]["round"] == 1 and rows[-1]["replicate"] == 3
    assert {r["best_arm"] for r in rows} <= {0, 1}


# ---- the LLM agent on a tiny random model ------------------------------------------------------


def test_prefix_cache_reuse_gives_the_same_decisions_with_fewer_tokens(tiny_chat):
    inst = B.make_instance("hard", seed=2)
    kw = dict(horizon=10, replicates=1, seed=3)
    cached = B.run_llm("BNRN1", inst, reuse_cache=True, **kw)
    fresh = B.run_llm("BNRN1", inst, reuse_cache=False, **kw)
    assert np.array_equal(cached.choices, fresh.choices)
    assert np.allclose(np.asarray(cached.probs), np.asarray(fresh.probs), atol=1e-4)
    assert cached.tokens_run < fresh.tokens_run / 2.5
    assert ((cached.choices >= 0) & (cached.choices < 5)).all()
    assert cached.parse_counts() == {"ok": 10, "lenient": 0, "fallback": 0}
    # the transcript holds what the model saw in each round
    assert len(cached.prompts[0]) == 10 and "round 10 of 10" in cached.prompts[0][-1]["user"]
    again = B.run_llm("BNRN1", inst, reuse_cache=True, **kw)
    assert np.array_equal(again.choices, cached.choices)


def test_temperature_zero_takes_the_argmax_of_the_label_distribution(tiny_chat):
    run = B.run_llm("BNRN0", B.make_instance("easy", seed=0), horizon=5, replicates=1, seed=0)
    for t in range(5):
        answer = dict(pair.split(":") for pair in run.answers[0][t].split(", "))
        best = max(answer, key=lambda lab: float(answer[lab]))
        assert B.BUTTON_LABELS[run.choices[0, t]] == best


def test_generating_designs_parse_or_fall_back_and_say_so(tiny_chat):
    run = B.run_llm("BSSC~0", B.make_instance("hard", seed=0), horizon=3, replicates=2, seed=0,
                    max_reasoning_tokens=8)
    check_llm_run(run, horizon=3, replicates=2)  # a fallback is recorded as uniform
    dist = B.run_llm("ANRND", B.make_instance("easy", seed=0), horizon=2, replicates=1, seed=0)
    check_llm_run(dist, horizon=2, replicates=1)
    assert dist.parse[0][0] in ("ok", "lenient", "fallback")


def test_greedy_generation_does_not_depend_on_the_batch(tiny_chat):
    """Replicates are decoded as one left-padded batch; replicate 1 decides as it would alone."""
    inst = B.make_instance("hard", seed=0)
    kw = dict(horizon=3, seed=0, max_reasoning_tokens=8)
    both = B.run_llm("BSSC~0", inst, replicates=2, **kw)
    alone = B.run_llm("BSSC~0", inst, replicates=1, **kw)
    assert both.answers[0] == alone.answers[0] and np.array_equal(both.choices[:1], alone.choices)
    # in round 1 both replicates see the same prompt, so greedy decoding writes the same answer
    assert both.answers[0][0] == both.answers[1][0]


def test_sampled_generation_is_reproducible_under_a_seed(tiny_chat):
    inst = B.make_instance("easy", seed=0)
    kw = dict(horizon=3, replicates=2, max_reasoning_tokens=8)
    a = B.run_llm("BNRC1", inst, seed=4, **kw)
    b = B.run_llm("BNRC1", inst, seed=4, **kw)
    c = B.run_llm("BNRC1", inst, seed=5, **kw)
    check_llm_run(a, horizon=3, replicates=2)
    assert a.answers == b.answers and np.array_equal(a.choices, b.choices)
    assert a.answers != c.answers
    # sampled, not greedy: the two replicates' first answers (same prompt) differ
    assert a.answers[0][0] != a.answers[1][0]


def test_a_run_over_the_time_cap_is_refused_before_it_starts(tiny_chat):
    with pytest.raises(InputError, match="would take about .* minutes"):
        B.run_llm("BSRC0", B.make_instance("hard"), horizon=500, replicates=100, time_cap_s=1)
    with pytest.raises(InputError, match="would take about .* minutes"):
        B.run_many([], ["BSRC0"], B.make_instance("hard"), horizon=500, replicates=10, llm_replicates=100,
                   time_cap_s=1)
    with pytest.raises(InputError, match="at least one agent"):
        B.run_many([], [], B.make_instance("hard"), horizon=10, replicates=10, llm_replicates=1)


def test_python_calls_have_no_time_cap_unless_given_one(tiny_chat, monkeypatch):
    """Without time_cap_s nothing is estimated or refused: a library call runs to the end."""
    from backends.bandits import agent

    def no_estimates(*args, **kwargs):
        raise AssertionError("estimated a run that has no cap")

    monkeypatch.setattr(agent, "estimate_cost", no_estimates)
    inst = B.make_instance("hard", seed=0)
    run = B.run_llm("BNRN0", inst, horizon=3, replicates=1)
    check_llm_run(run, horizon=3, replicates=1)
    runs = B.run_many(["ucb"], ["BNRN0"], inst, horizon=3, replicates=5, llm_replicates=1)
    assert [r.agent for r in runs] == ["UCB", "LLM BNRN0"]


def test_a_loaded_model_is_used_as_given(tiny_chat):
    lm = tiny_chat.get("tiny-b")
    assert B.chat_model(lm) is lm and B.chat_model(None).name == "tiny-a"
    run = B.run_llm("BNRN0", B.make_instance("hard", seed=0), horizon=2, replicates=1, model=lm)
    assert run.model == "tiny-b"


def test_stop_really_stops_the_worker(tiny_chat):
    """Closing the tab's generator (what Gradio does on Stop) sets the stop flag; the worker ends soon."""
    import threading
    import time

    from tabs import bandits as tab

    gen = tab.run_experiment("hard", 5, 0.2, "", 400, 10, ["ucb"], ["BNRN0"], 20, "tiny-a", 32, 1.0, 0.1, 0,
                             progress=lambda *a, **k: None)
    first = next(gen)  # the run is going: nothing new to show yet
    assert len(first) == len(tab.RESULT)
    assert any(t.name == "bandit-run" for t in threading.enumerate())
    gen.close()
    deadline = time.monotonic() + 20
    while any(t.name == "bandit-run" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(t.name == "bandit-run" for t in threading.enumerate())


def test_tab_errors_reach_the_user_as_messages(tiny_chat):
    import gradio as gr

    from tabs import bandits as tab

    gen = tab.run_experiment("hard", 5, 0.2, "", 50, 10, [], ["NOPE"], 1, "tiny-a", 32, 1.0, 0.1, 0,
                             progress=lambda *a, **k: None)
    with pytest.raises(gr.Error, match="Unknown prompt code"):
        list(gen)
