"""The LLM bandit agent on the packaged chat model (SmolLM2-135M-Instruct): valid arms, statistics, parsing."""
import numpy as np
import pytest

from backends import bandits as B
from tests.bandit_helpers import check_llm_run

pytestmark = pytest.mark.integration


def test_answer_only_agent_returns_valid_arms_and_stats(registry):
    inst = B.make_instance("hard", seed=0)
    run = B.run_llm("BNRN0", inst, horizon=8, replicates=2, seed=0)
    check_llm_run(run, horizon=8, replicates=2)
    assert run.model == "smollm2-135m-instruct" and run.parse_counts()["ok"] == 16
    # the rewards are the shared reward table's entries for the chosen arms
    table = B.reward_table(inst, 8, 2, 0)
    assert np.array_equal(run.rewards, table[np.arange(2)[:, None], np.arange(8)[None, :], run.choices])
    stats = B.failure_stats(run)
    assert 0 <= stats.suff_fail_freq <= 1 and 0 <= stats.k_min_frac <= 1 and 0 <= stats.greedy_frac <= 1
    # the label distribution the decision came from is recorded and sums to 1
    dist = [float(p.split(":")[1]) for p in run.answers[0][0].split(", ")]
    assert len(dist) == 5 and sum(dist) == pytest.approx(1, abs=0.01)
    # the same seed gives the same run
    again = B.run_llm("BNRN0", inst, horizon=8, replicates=2, seed=0)
    assert np.array_equal(again.choices, run.choices)


def test_reinforced_cot_agent_generates_and_parses(registry):
    run = B.run_llm("BSSC~0", B.make_instance("easy", seed=0), horizon=2, replicates=2, seed=0,
                    max_reasoning_tokens=40)
    check_llm_run(run, horizon=2, replicates=2)
    assert all(len(a) > 0 for rep in run.answers for a in rep)
    assert "Remember to think step by step" in run.prompts[0][1]["user"]


def test_sampled_chain_of_thought_is_reproducible_under_a_seed(registry):
    inst = B.make_instance("easy", seed=0)
    kw = dict(horizon=2, replicates=2, seed=3, max_reasoning_tokens=24)
    a = B.run_llm("BNRC1", inst, **kw)
    b = B.run_llm("BNRC1", inst, **kw)
    check_llm_run(a, horizon=2, replicates=2)
    assert a.answers == b.answers and np.array_equal(a.choices, b.choices)
