"""On the cpu default (Qwen2.5-Coder-0.5B int8), the first arithmetic problems give a mix of right and wrong
answers, the likelihood ranks right above wrong better than chance, and ASPIRE's mix ranks them at least as well."""
import math

import pytest

from backends.selective import SCORES, evaluate_selective

pytestmark = pytest.mark.defaults


def test_cpu_default_aspire_mix_beats_chance_and_likelihood(registry):
    s = evaluate_selective("cot", registry.get("base"), n_samples=2, limit=8, n_boot=0)
    # Measured: 3 of the first 8 right with the one-line-calculation prompt (greedy, so deterministic).
    assert 1 <= sum(s.correct) <= 7
    assert all(math.isfinite(s.auroc[k]) for k in SCORES)
    # Measured on these 8 (self-evaluation one question per pass, so batch-invariant on int8): AUROC likelihood
    # 0.80, ASPIRE 0.80, self-evaluation alone 0.40 (P(Yes) does not separate them on 8 problems; an earlier
    # figure of 0.93 for ASPIRE came from batched int8 self-evaluation, where batch-mates moved P(Yes)).
    assert s.auroc["likelihood"] > 0.6
    assert s.auroc["aspire"] >= s.auroc["likelihood"] - 1e-9
