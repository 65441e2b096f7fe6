"""Checks shared by the bandit agent's tests on the tiny fake model (unit) and on the packaged model (integration)."""
import numpy as np
import pytest


def check_llm_run(run, horizon: int, replicates: int) -> None:
    """Every decision of an LLM run was recorded whole: a valid arm, how its answer was read, the messages
    the model saw, and the distribution the arm came from (summing to 1, uniform where the answer could not
    be read, and giving the chosen arm a chance)."""
    k = run.instance.k
    assert run.kind == "llm" and run.choices.shape == run.rewards.shape == (replicates, horizon)
    assert sum(run.parse_counts().values()) == horizon * replicates
    assert ((run.choices >= 0) & (run.choices < k)).all()
    for r in range(replicates):
        assert len(run.prompts[r]) == len(run.answers[r]) == len(run.parse[r]) == len(run.probs[r]) == horizon
        for t in range(horizon):
            p = np.asarray(run.probs[r][t])
            assert p.shape == (k,) and p.sum() == pytest.approx(1) and p[run.choices[r, t]] > 0
            if run.parse[r][t] == "fallback":
                assert p.tolist() == pytest.approx([1 / k] * k)
            assert f"round {t + 1} of {horizon}" in run.prompts[r][t]["user"]
