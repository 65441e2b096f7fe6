"""The selection scores ASPIRE compares, as pure functions of numbers and strings (no model here).

Every score is oriented the same way: **higher means more confident the answer is right**, so that the
accuracy-coverage curve and the AUROC of :mod:`backends.metrics` read them directly. Entropies are
therefore returned negated by :func:`selection_scores`.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from backends.cot_decoding import find_number_answer, normalise_number
from backends.metrics import best_rouge_l
from backends.rag.evaluation import normalize_answer

ROUGE_THRESHOLD = 0.7  # gamma: an answer is correct when its best Rouge-L against a reference exceeds it
DEFAULT_ALPHA = 0.25  # the paper's mix of likelihood and self-evaluation
SCORES = ("likelihood", "predictive_entropy", "cluster_entropy", "self_eval", "aspire")
LABELS = {
    "likelihood": "likelihood (log f_norm)",
    "predictive_entropy": "− predictive entropy",
    "cluster_entropy": "− cluster (semantic) entropy",
    "self_eval": "self-evaluation P(Yes)",
    "aspire": "ASPIRE mix g",
    "learned_init": "soft prompt before tuning (its init text)",
    "learned": "learned P(correct) (tuned soft prompt)",
    "aspire_learned": "ASPIRE mix g, learned",
}


# ----- correctness ---------------------------------------------------------------------------------


def final_number(text: str) -> str | None:
    """The last number written in a text, normalised ("1,200.0" -> "1200"), or None: the result of a
    one-line calculation such as "13 * 11 - 5 = 138"."""
    found = find_number_answer(text)
    return found[0] if found else None


def is_number(text: str) -> bool:
    try:
        normalise_number(text.strip())
        return True
    except ValueError:
        return False


def is_correct(answer: str, references: Sequence[str], threshold: float = ROUGE_THRESHOLD) -> bool:
    """The paper's rule: max over references of Rouge-L(answer, reference) > threshold.

    A numeric reference ("138") is matched by value instead: the last number of the answer must equal it
    (Rouge-L would fail "13 * 11 - 5 = 138" against "138").
    """
    refs = [r for r in references if r and r.strip()]
    if refs and all(is_number(r) for r in refs):
        got = final_number(answer)
        return got is not None and any(got == normalise_number(r.strip()) for r in refs)
    return best_rouge_l(answer, refs) > threshold


def rule_text(references: Sequence[str]) -> str:
    refs = [r for r in references if r and r.strip()]
    return ("number match (the last number of the answer = the reference)" if refs and all(is_number(r) for r in refs)
            else f"Rouge-L > {ROUGE_THRESHOLD}")


# ----- sampling-based scores ----------------------------------------------------------------------


def predictive_entropy(seq_logprobs: Sequence[float]) -> float:
    """Monte Carlo predictive entropy over m sampled answers: -(1/m) sum_i log p(y_i | x), in nats.

    ``seq_logprobs`` are the samples' sequence log-probabilities (sums over their tokens).
    """
    a = np.asarray(seq_logprobs, dtype=float)
    if a.size == 0:
        return float("nan")
    return float(-a.mean())


def equivalent(a: str, b: str, threshold: float = ROUGE_THRESHOLD) -> bool:
    """Two answers say the same thing: the same final number (when both end in one), equal SQuAD-normalised
    text, or Rouge-L above ``threshold``."""
    na, nb = final_number(a), final_number(b)
    if na is not None and nb is not None:
        return na == nb
    if normalize_answer(a) == normalize_answer(b):
        return True
    return best_rouge_l(a, [b]) > threshold


def clusters(answers: Sequence[str], same: Callable[[str, str], bool] = equivalent) -> list[int]:
    """Cluster id per answer: each answer joins the first cluster whose first member it is equivalent to."""
    heads: list[str] = []
    ids = []
    for a in answers:
        for c, h in enumerate(heads):
            if same(a, h):
                ids.append(c)
                break
        else:
            heads.append(a)
            ids.append(len(heads) - 1)
    return ids


def cluster_entropy(answers: Sequence[str], seq_logprobs: Sequence[float],
                    same: Callable[[str, str], bool] = equivalent) -> float:
    """Semantic-entropy-style score: entropy over clusters of equivalent answers, in nats.

    p(cluster) is the sum of p(y|x) over the *distinct* answers sampled in it, normalised over all distinct
    answers (Kuhn et al.'s estimate; repeats of one answer are counted once, their probability already
    says how likely it is). One cluster: 0.
    """
    if len(answers) != len(seq_logprobs):
        raise ValueError("one log-probability per answer")
    if not answers:
        return float("nan")
    seen: dict[str, float] = {}
    for a, lp in zip(answers, seq_logprobs):
        seen.setdefault(a.strip(), float(lp))
    texts, lps = list(seen), np.array(list(seen.values()))
    ids = np.array(clusters(texts, same))
    w = np.exp(lps - lps.max())
    p = np.array([w[ids == c].sum() for c in range(ids.max() + 1)])
    p = p / p.sum()
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


# ----- self-evaluation and the mix -------------------------------------------------------------


def p_yes(logit_yes: float, logit_no: float) -> float:
    """P("Yes") normalised over the two answers: softmax of the Yes/No next-token logits."""
    d = float(logit_no) - float(logit_yes)
    return 1.0 / (1.0 + math.exp(d)) if d < 700 else 0.0


def log_p_yes(logit_yes: float, logit_no: float) -> float:
    """log P("Yes") of :func:`p_yes`, computed stably (log-sigmoid of the logit difference)."""
    d = float(logit_yes) - float(logit_no)
    return -math.log1p(math.exp(-d)) if d > -30 else d - math.log1p(math.exp(d))


def aspire(log_f_norm: float | np.ndarray, log_p_correct: float | np.ndarray,
           alpha: float = DEFAULT_ALPHA) -> float | np.ndarray:
    """ASPIRE's selection score g = (1 - alpha) log f_norm(y|x) + alpha log P(correct | x, y)."""
    return (1.0 - alpha) * np.asarray(log_f_norm, dtype=float) + alpha * np.asarray(log_p_correct, dtype=float)


def selection_scores(mean_logprob: float, sample_answers: Sequence[str], sample_logprobs: Sequence[float],
                     log_p_yes_value: float, alpha: float = DEFAULT_ALPHA) -> dict[str, float]:
    """All scores of one answer, each oriented so that higher means 'more likely right' (see SCORES)."""
    return {
        "likelihood": float(mean_logprob),
        "predictive_entropy": -predictive_entropy(sample_logprobs),
        "cluster_entropy": -cluster_entropy(sample_answers, sample_logprobs),
        "self_eval": float(math.exp(log_p_yes_value)),
        "aspire": float(aspire(mean_logprob, log_p_yes_value, alpha)),
    }
