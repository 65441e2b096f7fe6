"""Evaluation statistics the paper tabs share: rank correlations, AUROC, Rouge-L, bootstrap intervals,
accuracy-coverage curves.

Small and dependency-light (numpy; scipy for the rank correlations), each written once here so that
GPTScore's meta-evaluation, ASPIRE's selective prediction and EWoK's accuracies compute them the same
way. Every function takes plain sequences and returns floats or arrays.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from backends.config import InputError

_WORD = re.compile(r"\w+", re.UNICODE)


def _finite(values: Sequence[float], what: str) -> np.ndarray:
    a = np.asarray(values, dtype=float).ravel()
    if not np.isfinite(a).all():
        raise InputError(f"{what} must be finite numbers.")
    return a


# ----- rank correlations -----------------------------------------------------------------------------


def _rank_pairs(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray] | None:
    """The two sides as arrays, or None when a rank correlation is undefined (< 2 pairs, a constant side)."""
    a, b = _finite(x, "Scores"), _finite(y, "Scores")
    if a.size != b.size:
        raise InputError(f"Correlation needs pairs: got {a.size} and {b.size} values.")
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return a, b


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho (ties get average ranks). NaN when either side is constant or has < 2 values."""
    from scipy.stats import spearmanr

    pairs = _rank_pairs(x, y)
    return float("nan") if pairs is None else float(spearmanr(*pairs).statistic)


def kendall(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b (tie-corrected). NaN when either side is constant or has < 2 values."""
    from scipy.stats import kendalltau

    pairs = _rank_pairs(x, y)
    return float("nan") if pairs is None else float(kendalltau(*pairs).statistic)


# ----- classification of right and wrong ------------------------------------------------------------


def auroc(scores: Sequence[float], labels: Sequence[bool | int]) -> float:
    """P(score of a positive > score of a negative) + 0.5 P(tie): the area under the ROC curve.

    NaN when one class is missing (the area is undefined).
    """
    s = _finite(scores, "Scores")
    y = np.asarray(labels, dtype=bool).ravel()
    if s.size != y.size:
        raise InputError(f"AUROC needs one label per score: got {s.size} scores and {y.size} labels.")
    pos, neg = s[y], s[~y]
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    # Rank form (Mann-Whitney U) with average ranks for ties: O(n log n), same value as the pairwise count.
    from scipy.stats import rankdata

    ranks = rankdata(s)
    return float((ranks[y].sum() - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


@dataclass(frozen=True)
class CoverageCurve:
    """Accuracy among the answers kept, as the threshold drops and coverage grows."""

    coverage: np.ndarray  # (n,) fraction answered: 1/n, 2/n, ..., 1
    accuracy: np.ndarray  # (n,) accuracy of the answered ones
    thresholds: np.ndarray  # (n,) the score of the last answer kept

    @property
    def auacc(self) -> float:
        """Area under the accuracy-coverage curve: the mean of the accuracies at coverage k/n, k = 1..n."""
        return float(self.accuracy.mean()) if self.accuracy.size else float("nan")


def accuracy_coverage(scores: Sequence[float], correct: Sequence[bool | int]) -> CoverageCurve:
    """Answer the questions in order of decreasing score; at each coverage k/n, the accuracy of the k kept.

    Ties in score are broken against the method (wrong answers first among equals), so a constant
    score earns no credit for a lucky order. The curve's mean is the AUACC of selective prediction.
    """
    s = _finite(scores, "Scores")
    c = np.asarray(correct, dtype=float).ravel()
    if s.size != c.size:
        raise InputError(f"Need one correctness label per score: got {s.size} and {c.size}.")
    if s.size == 0:
        empty = np.zeros(0)
        return CoverageCurve(empty, empty, empty)
    order = np.lexsort((c, -s))  # by score descending, then wrong (0) before right (1)
    kept = np.arange(1, s.size + 1)
    return CoverageCurve(kept / s.size, np.cumsum(c[order]) / kept, s[order])


# ----- text overlap ------------------------------------------------------------------------------


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits, underscore), as Rouge compares them."""
    return _WORD.findall(text.lower())


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists (dynamic programming, O(|a| |b|))."""
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(candidate: str, reference: str, beta: float = 1.0) -> float:
    """Rouge-L F-measure on words: LCS-based precision P and recall R, (1+b^2) P R / (R + b^2 P).

    Two empty texts match (1.0); one empty against a non-empty one scores 0.
    """
    c, r = words(candidate), words(reference)
    if not c and not r:
        return 1.0
    lcs = lcs_length(c, r)
    if lcs == 0:
        return 0.0
    p, rec = lcs / len(c), lcs / len(r)
    return float((1 + beta**2) * p * rec / (rec + beta**2 * p))


def best_rouge_l(candidate: str, references: Sequence[str]) -> float:
    """The highest Rouge-L against any of several references (how ASPIRE labels an answer)."""
    return max((rouge_l(candidate, r) for r in references), default=0.0)


# ----- uncertainty ---------------------------------------------------------------------------------


def bootstrap_ci(values: Sequence[float] | np.ndarray, statistic: Callable[[np.ndarray], float] = np.mean, *,
                 n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over resampled rows of ``values`` (seeded).

    ``values`` may be 2-D (rows resampled together, e.g. score and label columns for an AUROC).
    NaN statistics of degenerate resamples are skipped; (nan, nan) when none is defined.
    """
    a = np.asarray(values, dtype=float)
    if a.shape[0] == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    stats = np.array([statistic(a[rng.integers(0, a.shape[0], a.shape[0])]) for _ in range(n_boot)], dtype=float)
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(stats, [tail, 100 - tail])
    return float(lo), float(hi)
