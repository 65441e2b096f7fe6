"""The shared evaluation statistics against hand-computed values."""
import numpy as np
import pytest

from backends import metrics as M
from backends.config import InputError


def test_rank_correlations_on_hand_examples():
    assert M.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert M.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # One discordant pair of six: tau = (5 - 1) / 6.
    assert M.kendall([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(4 / 6)
    # rho = 1 - 6 * sum d^2 / (n (n^2 - 1)) with d = (0, 0, 1, -1): 1 - 12/60.
    assert M.spearman([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(0.8)
    assert np.isnan(M.spearman([1, 1, 1], [1, 2, 3])) and np.isnan(M.kendall([1], [2]))
    with pytest.raises(InputError):
        M.spearman([1, 2], [1, 2, 3])


def test_auroc_counts_ordered_pairs_with_half_for_ties():
    # Positives 0.9, 0.4; negatives 0.5, 0.4: pairs (0.9>0.5) (0.9>0.4) (0.4<0.5) (0.4=0.4) -> (1+1+0+0.5)/4.
    assert M.auroc([0.9, 0.4, 0.5, 0.4], [1, 1, 0, 0]) == pytest.approx(2.5 / 4)
    assert M.auroc([3, 2, 1], [1, 1, 0]) == 1.0 and M.auroc([1, 2, 3], [1, 1, 0]) == 0.0
    assert np.isnan(M.auroc([1, 2], [1, 1]))
    rng = np.random.default_rng(0)
    s, y = rng.normal(size=40).round(1), rng.integers(0, 2, 40).astype(bool)
    pairwise = np.mean([(a > b) + 0.5 * (a == b) for a in s[y] for b in s[~y]])
    assert M.auroc(s, y) == pytest.approx(pairwise)


def test_accuracy_coverage_keeps_the_highest_scores_first():
    curve = M.accuracy_coverage([0.9, 0.1, 0.8, 0.3], [1, 0, 1, 0])
    np.testing.assert_allclose(curve.coverage, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(curve.accuracy, [1, 1, 2 / 3, 0.5])
    assert curve.auacc == pytest.approx((1 + 1 + 2 / 3 + 0.5) / 4)
    # A constant score earns nothing from the order: ties put the wrong answers first.
    flat = M.accuracy_coverage([1, 1, 1, 1], [1, 1, 0, 0])
    np.testing.assert_allclose(flat.accuracy, [0, 0, 1 / 3, 0.5])


def test_rouge_l_on_hand_examples():
    # LCS of "the cat sat on the mat" and "the cat on a mat" is "the cat on mat" (4): P = 4/6, R = 4/5.
    p, r = 4 / 6, 4 / 5
    assert M.rouge_l("The cat sat on the mat", "the cat on a mat") == pytest.approx(2 * p * r / (p + r))
    assert M.rouge_l("North Carolina", "north carolina.") == 1.0
    assert M.rouge_l("", "x") == 0.0 and M.rouge_l("", "") == 1.0
    assert M.best_rouge_l("Maine", ["the state of Maine", "Maine"]) == 1.0


def test_bootstrap_interval_brackets_the_mean_and_is_seeded():
    x = np.random.default_rng(1).normal(size=200)
    lo, hi = M.bootstrap_ci(x, n_boot=300)
    assert lo < x.mean() < hi and (lo, hi) == M.bootstrap_ci(x, n_boot=300)
    rows = np.column_stack([x, x > 0])
    lo, hi = M.bootstrap_ci(rows, lambda r: M.auroc(r[:, 0], r[:, 1]), n_boot=100)
    assert lo == hi == 1.0
