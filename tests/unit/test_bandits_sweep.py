"""The bandit grid as a sweep ("bandits" kind), in-process on the tiny random model: it must give run_llm's runs."""
import numpy as np
import pytest

from backends import bandits as B
from backends import sweeps
from backends.config import InputError
from tests.bandit_helpers import check_llm_run

CODES = ["BNRN0", "BSSN1", "BSSC~0"]  # answer-only at temperature 0 and 1, and a generating design


def test_code_filters():
    assert len(B.select_codes("all")) == 72 == len(B.grid_items(" ALL "))
    assert B.select_codes("B?RN0, bssc~0 BNRN0") == ["BNRN0", "BSRN0", "BSSC~0"]  # as given, each once
    assert B.select_codes("BSSC~0, BNRN1") == ["BSSC~0", "BNRN1"]
    assert B.select_codes(["*SC~D"]) == ["BNSC~D", "BSSC~D", "ANSC~D", "ASSC~D"]
    with pytest.raises(InputError, match="matches no prompt code"):
        B.select_codes("X*")
    with pytest.raises(InputError, match="Unknown prompt code"):
        B.select_codes("BNRN0, BXRN0")
    with pytest.raises(InputError, match="Choose prompt codes"):
        B.select_codes(" , ")


def test_options_hold_the_instance_and_the_model_by_name(tiny_chat):
    opts = B.grid_options("hard", 5, 2, seed=4)
    assert opts["model"] == "tiny-a" and opts["seed"] == 4 and opts["horizon"] == 5 and opts["replicates"] == 2
    assert tuple(opts["instance"]["means"]) == B.make_instance("hard", seed=4).means
    assert B.instance_of({"means": [0.2, 0.7]}).best == 1
    assert B.instance_of({"k": 3, "delta": 0.4}, seed=1) == B.make_instance(k=3, delta=0.4, seed=1)
    with pytest.raises(InputError, match="Replicates N must be between 1 and 100"):
        B.grid_options("hard", 5, 101)
    with pytest.raises(InputError, match="Unknown instance"):
        B.grid_options("medium", 5, 2)


def test_grid_equals_run_many_on_the_same_codes_and_seed(tiny_chat):
    inst = B.make_instance("hard", seed=2)
    kw = dict(horizon=3, seed=3, max_reasoning_tokens=8)
    grid = B.run_grid(CODES, inst, replicates=2, baselines=["ucb", "greedy"], **kw)
    ref = B.run_many(["ucb", "greedy"], CODES, inst, replicates=2, llm_replicates=2, **kw)
    assert grid.sweep["backend"] == "local" and not grid.failed and not grid.missing and not grid.stopped
    assert [r.agent for r in grid.runs] == [r.agent for r in ref] == ["UCB", "Greedy", *(f"LLM {c}" for c in CODES)]
    for g, r in zip(grid.runs, ref):
        assert np.array_equal(g.choices, r.choices) and np.array_equal(g.rewards, r.rewards)
        assert g.answers == r.answers and g.parse == r.parse and g.prompts == r.prompts
        assert np.allclose(np.asarray(g.probs, dtype=float), np.asarray(r.probs, dtype=float))
    for llm in grid.runs[2:]:
        check_llm_run(llm, horizon=3, replicates=2)
    # the statistics are those of the reference runs
    assert [s.row() for s in grid.stats] == [B.failure_stats(r).row() for r in ref]
    rows = grid.rows()
    assert [r["code"] for r in rows] == ["", "", *CODES] and rows[2]["parsed"] == 6
    assert len(grid.decisions()) == 2 * 3 * 2 + 3 * 3 * 2
    # common random numbers: every design saw the same reward table
    table = B.reward_table(inst, 3, 2, 3)
    for run in grid.runs:
        for r in range(2):
            assert (run.rewards[r] == table[r, np.arange(3), run.choices[r]]).all()


def test_results_are_json_and_ignore_the_per_item_seed(tiny_chat):
    """The kind reads the options' seed (common reward tables): the runner's seed changes nothing."""
    inst = B.make_instance("easy", seed=0)
    opts = B.grid_options(inst, 3, 2, seed=5)
    items = B.grid_items(["BNRN1", "BSRN1"])
    a = sweeps.run_sweep("bandits", items, opts, seed=0)
    b = sweeps.run_sweep("bandits", items, opts, seed=99)
    untimed = lambda res: [{k: v for k, v in r.items() if k != "seconds"} for r in res.results]  # noqa: E731
    assert untimed(a) == untimed(b) and sweeps.round_trip(a.results) == a.results
    res = a.results[0]
    assert res["code"] == "BNRN1" and res["parse_counts"] == {"ok": 6, "lenient": 0, "fallback": 0}
    assert res["stats"]["suff_fail_freq"] == B.failure_stats(B.runs_of(res, inst, 5)).suff_fail_freq
    assert len(res["stats"]["regret_mean"]) == 3
    # and they are run_llm's, seeded by the options
    ref = B.run_llm("BSRN1", inst, horizon=3, replicates=2, seed=5)
    assert a.results[1]["choices"] == ref.choices.tolist()


def test_a_stopped_grid_lists_the_codes_not_reached_and_resume_reuses_the_rest(tiny_chat):
    inst = B.make_instance("hard", seed=0)
    kw = dict(horizon=3, replicates=1, seed=1, baselines=[])
    cut = B.run_grid(["BNRN0", "BNRN1", "BSRN0"], inst, time_budget_s=0, **kw)
    assert cut.stopped == "time cap" and len(cut.runs) == 1 and cut.missing == ["BNRN1", "BSRN0"]
    full = B.run_grid(["BNRN0", "BNRN1", "BSRN0"], inst, resume=True, **kw)
    assert full.sweep["resumed"] == 1 and [r.code for r in full.runs] == ["BNRN0", "BNRN1", "BSRN0"]
    assert np.array_equal(full.runs[0].choices, cut.runs[0].choices)


def test_a_loaded_model_is_used_as_given(tiny_chat):
    lm = tiny_chat.get("tiny-b")
    grid = B.run_grid("BNRN0", "hard", 2, 1, model=lm, baselines=["ts"])
    assert grid.runs[1].model == "tiny-b" and grid.runs[0].agent == "Thompson sampling"
    with pytest.raises(InputError, match="Unknown baseline"):
        B.run_grid("BNRN0", "hard", 2, 1, model=lm, baselines=["oracle"])


def test_the_grid_tab_streams_progress_then_the_statistics(tiny_chat):
    import csv

    from tabs import bandits as tab

    outs = list(tab.run_grid("hard", 5, 0.2, "", 0, ["ucb", "greedy"], 50, 1.0, 0.1, "tiny-a", 16, "BNRN0 BSRN1", 3,
                             2, "in-process", 1, False, progress=lambda *a, **k: None))
    assert len(outs) >= 2 and all(len(o) == len(tab.GRID) for o in outs)
    first, last = tab.GRID.unpack(outs[0]), tab.GRID.unpack(outs[-1])
    assert "**Sweep:**" in first["report"] and "estimated" in first["report"]
    assert list(last["table"]["agent"]) == ["UCB", "Greedy", "LLM BNRN0", "LLM BSRN1"]
    assert list(last["table"]["parsed"])[2:] == [6, 6] and "2 designs in" in last["report"]
    with open(last["decisions_csv"]) as f:
        rows = [r for r in csv.reader(f) if r and not r[0].startswith("#")]
    assert len(rows) == 1 + 2 * 50 * 3 + 2 * 2 * 3  # header, baselines, designs
    assert last["scatter"] is not None and "SuffFailFreq" in open(last["stats_csv"]).read()


def test_the_grid_tab_refuses_too_much_with_a_clear_message(tiny_chat, monkeypatch):
    import gradio as gr

    from tabs import bandits as tab

    args = ["hard", 5, 0.2, "", 0, ["ucb"], 50, 1.0, 0.1, "tiny-a", 16]
    with pytest.raises(gr.Error, match="matches no prompt code"):
        list(tab.run_grid(*args, "Z*", 3, 1, progress=lambda *a, **k: None))
    monkeypatch.setattr(tab, "MAX_GRID_CODES", 4)
    with pytest.raises(gr.Error, match="72 prompt designs chosen; at most 4"):
        list(tab.run_grid(*args, "all", 3, 1, progress=lambda *a, **k: None))
    # The estimate comes from a speed probe of the model; a one-second cap makes the refusal certain on any
    # machine (a probe on a quiet machine once let this grid start, and it ran for many minutes).
    monkeypatch.setenv("WORKBENCH_MAX_RUN_S", "1")
    with pytest.raises(gr.Error, match="would take about .* minutes"):
        list(tab.run_grid(*args, "BSRC~0", 500, 20, progress=lambda *a, **k: None))
