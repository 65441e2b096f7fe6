"""On the cpu default (Qwen2.5-Coder-0.5B int8), the first arithmetic problems give a mix of right and wrong
answers, and ASPIRE's mix ranks them at least as well as the likelihood alone (the paper's effect)."""
import math

import pytest

from backends.selective import SCORES, evaluate_selective

pytestmark = pytest.mark.defaults


def test_cpu_default_aspire_mix_beats_chance_and_likelihood(registry):
    s = evaluate_selective("cot", registry.get("base"), n_samples=2, limit=8, n_boot=0)
    # Measured: 3 of the first 8 right with the one-line-calculation prompt (greedy, so deterministic).
    assert 1 <= sum(s.correct) <= 7
    assert all(math.isfinite(s.auroc[k]) for k in SCORES)
    # Measured on these 8 (greedy answers, one self-evaluation batch): AUROC likelihood 0.80, ASPIRE 0.93;
    # mean P(Yes) 0.48 on right answers, 0.42 on wrong ones.
    assert s.auroc["aspire"] > 0.7 and s.auroc["aspire"] >= s.auroc["likelihood"]
    right = [p for p, c in zip(s.scores["self_eval"], s.correct) if c]
    wrong = [p for p, c in zip(s.scores["self_eval"], s.correct) if not c]
    assert sum(right) / len(right) > sum(wrong) / len(wrong)
