"""Selective prediction on a QA set: answer, sample, self-evaluate, then rank the answers by each score.

For every question the model gives one greedy answer y* (the answer a selective predictor would output or
withhold) and ``n_samples`` sampled answers (one prefill, n rows, a seeded generator per question). The
scores of :mod:`backends.selective.scores` are computed from these, and each is judged by how well it ranks
the right answers above the wrong ones: the accuracy-coverage curve, its area (AUACC) and the AUROC, with
bootstrap intervals (``backends.metrics``, the paper's definitions).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np

from backends.config import InputError, check_count, check_number
from backends.decoding import Deadline, ProgressFn, chat_ids, decode, prefill
from backends.metrics import CoverageCurve, accuracy_coverage, auroc, bootstrap_ci
from backends.selective import scores as S

if TYPE_CHECKING:
    from backends.models import LoadedModel

DATASETS = ("cot", "rag")
DATASET_LABELS = {"cot": "arithmetic (CoT problems, number answers)",
                  "rag": "SOTU questions with the top BM25 passage (the reworded ones last)"}
# Measured on the first 8 problems with Qwen2.5-Coder-0.5B int8: "Answer with the number only" 1/12 right,
# a worked example in the instruction gets copied; this one-line calculation 3/8 (a mix, as AUROC needs).
COT_INSTRUCTION = "Reply on one line with the arithmetic expression that answers it and its value."
MAX_NEW_TOKENS = {"cot": 32, "rag": 24}
EMPTY_LOGPROB = -30.0  # the likelihood score of an empty answer (nothing to average; ranks it last)
SELF_EVAL_QUESTION = "Is the proposed answer correct? Reply Yes or No."
ALPHAS = tuple(round(a, 2) for a in np.linspace(0, 1, 11))


@dataclass(frozen=True)
class Item:
    """One question of a QA set."""

    id: str
    question: str
    references: tuple[str, ...]
    context: str | None = None  # the passage given in the prompt (RAG), else None


@dataclass(frozen=True)
class Answered:
    """One question answered: the greedy answer, the samples, the self-evaluation."""

    item: Item
    answer: str
    answer_logprobs: list[float]  # per generated token of y*, nats
    samples: list[str]
    sample_logprobs: list[float]  # sequence log-probability of each sample, nats
    log_p_yes: float  # log P("Yes" | self-evaluation prompt), normalised over Yes/No

    @property
    def mean_logprob(self) -> float:
        """log f_norm(y*|x): the mean token log-probability (EMPTY_LOGPROB for an empty answer)."""
        return float(np.mean(self.answer_logprobs)) if self.answer_logprobs and self.answer.strip() else EMPTY_LOGPROB


@dataclass(frozen=True)
class Selective:
    """The outcome of :func:`evaluate_selective`. Score dicts are keyed by :data:`scores.SCORES`."""

    dataset: str
    model: str
    n_samples: int
    alpha: float
    seed: int
    temperature: float
    rule: str  # the correctness rule, in words
    answered: list[Answered]
    correct: list[bool]
    scores: dict[str, list[float]]  # score -> one value per question (higher = more confident)
    auroc: dict[str, float]
    auacc: dict[str, float]
    auroc_ci: dict[str, tuple[float, float]]
    auacc_ci: dict[str, tuple[float, float]]
    curves: dict[str, CoverageCurve]
    alpha_sweep: dict[str, list[float]]  # "alpha", "auroc", "auacc": ASPIRE's mix at each alpha
    seconds: float
    stopped_early: bool = False  # the time budget ran out: the questions done so far
    extra: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.answered)

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.correct)) if self.correct else float("nan")

    def records(self) -> list[dict]:
        """One flat dict per question (for tables and CSV)."""
        out = []
        for i, a in enumerate(self.answered):
            r = {"id": a.item.id, "question": a.item.question, "answer": a.answer,
                 "references": " | ".join(a.item.references), "correct": self.correct[i]}
            r.update({k: round(self.scores[k][i], 4) for k in self.scores})
            r["samples"] = " | ".join(a.samples)
            out.append(r)
        return out

    def to_dict(self) -> dict:
        return {"dataset": self.dataset, "model": self.model, "n": self.n, "n_samples": self.n_samples,
                "alpha": self.alpha, "seed": self.seed, "temperature": self.temperature, "rule": self.rule,
                "accuracy": self.accuracy, "auroc": self.auroc, "auacc": self.auacc, "auroc_ci": self.auroc_ci,
                "auacc_ci": self.auacc_ci, "alpha_sweep": self.alpha_sweep, "seconds": self.seconds,
                "stopped_early": self.stopped_early, "records": self.records()}


# ----- data ------------------------------------------------------------------------------------------


def load_items(dataset: str, limit: int | None = None) -> list[Item]:
    """The first ``limit`` questions of a built-in set: "cot" (arithmetic, number answers) or "rag" (SOTU
    questions, then the 22 reworded ones, each with the passage BM25 ranks first for it: the one holding the
    answer for 84 % of the original questions)."""
    if dataset not in DATASETS:
        raise InputError(f"Unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}.")
    if dataset == "cot":
        from backends.cot_decoding import load_problems

        items = [Item(f"cot-{i:03d}", p.question, (p.answer,)) for i, p in enumerate(load_problems())]
    else:
        from backends.rag.corpus import default_passages
        from backends.rag.evaluation import QA_REWORDED_PATH, load_qa
        from backends.rag.sparse import bm25_index

        # Retrieved, not given: with its own passage the 0.5B model answered the first 16 questions all
        # right (AUROC undefined). BM25's top passage is the right one for 84 % of the original questions
        # (and for fewer of the 22 reworded ones, which come after them), so the answers are a mix.
        qa = load_qa() + load_qa(QA_REWORDED_PATH)
        passages = default_passages()
        bm25 = bm25_index(passages)
        items = []
        for q in qa[:limit] if limit else qa:
            p = passages[int(np.argmax(bm25.scores(q["question"])))]
            head = f" ({p.title})" if p.title else ""
            items.append(Item(q["id"], q["question"], (q["answer"], *q.get("aliases", [])), f"Passage{head}: {p.text}"))
    return items[:limit] if limit else items


def answer_prompt(lm: "LoadedModel", item: Item) -> list[int]:
    """The question as one user turn (the passage first for RAG), asking for a short answer."""
    if item.context is None:
        user = f"{item.question}\n{COT_INSTRUCTION}"
    else:
        from backends.rag.generate import INSTRUCTION, MAX_PASSAGE_CHARS

        user = f"{INSTRUCTION}\n\n{item.context[:MAX_PASSAGE_CHARS]}\n\nQuestion: {item.question}"
    return chat_ids(lm, user, plain_suffix="\nAnswer:")


def judged_text(item: Item, answer: str) -> str:
    """Context, question and proposed answer, as both self-evaluations see them."""
    from backends.rag.generate import MAX_PASSAGE_CHARS

    head = f"{item.context[:MAX_PASSAGE_CHARS]}\n\n" if item.context else ""
    return f"{head}Question: {item.question}\nProposed answer: {answer.strip()}"


def self_eval_prompt(lm: "LoadedModel", item: Item, answer: str) -> list[int]:
    return chat_ids(lm, f"{judged_text(item, answer)}\n{SELF_EVAL_QUESTION}", plain_suffix="\nAnswer:")


def word_ids(lm: "LoadedModel", word: str) -> list[int]:
    """The first token of ``word`` with and without a leading space (distinct ids): where a chat reply
    starts the bare word comes next, after "Answer:" the spaced one."""
    tok = lm.tokenizer
    ids = {tok(v, add_special_tokens=False)["input_ids"][0] for v in (word, f" {word}")}
    return sorted(int(i) for i in ids)


# ----- the model's part ---------------------------------------------------------------------------


def _stop_at_newline(lm: "LoadedModel"):
    tok = lm.tokenizer

    def stop(ids: list[int]) -> bool:
        return "\n" in tok.decode(ids[-1:]) and bool(tok.decode(ids).strip())

    return stop


def _text(lm: "LoadedModel", ids: list[int]) -> str:
    return lm.tokenizer.decode(ids, skip_special_tokens=True).strip()


def answer_question(lm: "LoadedModel", item: Item, n_samples: int, *, seed: int, temperature: float = 1.0,
                    max_new_tokens: int = 16, deadline: Deadline | None = None) -> tuple[str, list[float], list[str],
                                                                                              list[float]]:
    """(greedy answer, its token log-probs, samples, their sequence log-probs) from one prefill.

    The samples are ``n_samples`` rows of one batch, drawn from a generator seeded by ``seed``.
    """
    import torch

    pre = prefill(lm, [answer_prompt(lm, item)])
    stop = _stop_at_newline(lm)
    g = decode(lm, pre, max_new_tokens, stop=stop, deadline=deadline)
    samples, lps = [], []
    if n_samples > 0:
        gen = torch.Generator().manual_seed(int(seed))
        s = decode(lm, pre.fork(repeat=n_samples), max_new_tokens, sample=True, temperature=temperature,
                   generator=gen, stop=stop, deadline=deadline)
        samples = [_text(lm, ids) for ids in s.ids]
        lps = [float(np.sum(lp)) for lp in s.logprobs]
    return _text(lm, g.ids[0]), [float(x) for x in g.logprobs[0]], samples, lps


def self_evaluate(lm: "LoadedModel", items: Sequence[Item], answers: Sequence[str], *, batch_size: int | None = 8,
                  deadline: Deadline | None = None) -> list[float]:
    """log P("Yes") for each (question, proposed answer), normalised over Yes and No, batched (one per pass on
    int8 models, whose per-call activation scale would make a question's P(Yes) depend on its batch-mates)."""
    import torch

    from backends.lm import scoring_batch_size

    batch_size = scoring_batch_size(lm, batch_size)
    yes, no = word_ids(lm, "Yes"), word_ids(lm, "No")
    out: list[float] = []
    rows = [self_eval_prompt(lm, it, a) for it, a in zip(items, answers)]
    for start in range(0, len(rows), batch_size):
        Deadline.of(deadline).check("Self-evaluation ran past the request's time budget; ask for fewer questions.")
        logp = torch.log_softmax(prefill(lm, rows[start:start + batch_size]).logits, dim=-1)
        ly = torch.logsumexp(logp[:, yes], dim=-1)
        ln = torch.logsumexp(logp[:, no], dim=-1)
        out.extend(S.log_p_yes(float(a), float(b)) for a, b in zip(ly, ln))
    return out


# ----- evaluation ---------------------------------------------------------------------------------


def _ci(values: np.ndarray, fn, n_boot: int, seed: int) -> tuple[float, float]:
    return bootstrap_ci(values, fn, n_boot=n_boot, seed=seed) if n_boot > 0 else (float("nan"), float("nan"))


def metrics_of(scores: dict[str, Sequence[float]], correct: Sequence[bool], *, n_boot: int = 1000, seed: int = 0):
    """(auroc, auacc, auroc_ci, auacc_ci, curves) of every score, each dict keyed by score name."""
    y = np.asarray(correct, dtype=float)
    out: tuple[dict, dict, dict, dict, dict] = ({}, {}, {}, {}, {})
    for k, v in scores.items():
        s = np.asarray(v, dtype=float)
        curve = accuracy_coverage(s, y)
        both = np.column_stack([s, y])
        out[0][k] = auroc(s, y)
        out[1][k] = curve.auacc
        out[2][k] = _ci(both, lambda a: auroc(a[:, 0], a[:, 1]), n_boot, seed)
        out[3][k] = _ci(both, lambda a: accuracy_coverage(a[:, 0], a[:, 1]).auacc, n_boot, seed)
        out[4][k] = curve
    return out


def alpha_sweep(log_f_norm: Sequence[float], log_p_correct: Sequence[float], correct: Sequence[bool],
                alphas: Sequence[float] = ALPHAS) -> dict[str, list[float]]:
    """AUROC and AUACC of ASPIRE's mix at each alpha (0: likelihood alone, 1: self-evaluation alone)."""
    res: dict[str, list[float]] = {"alpha": [float(a) for a in alphas], "auroc": [], "auacc": []}
    for a in alphas:
        g = S.aspire(log_f_norm, log_p_correct, a)
        res["auroc"].append(auroc(g, correct))
        res["auacc"].append(accuracy_coverage(g, correct).auacc)
    return res


def _check(dataset: str, n_samples: int, limit: int | None, alpha: float, temperature: float) -> None:
    if dataset not in DATASETS:
        raise InputError(f"Unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}.")
    check_count(n_samples, what="Samples per question", low=2, high=20)
    if limit is not None:
        check_count(limit, what="Number of questions", low=2, high=1000)
    check_number(alpha, what="alpha", low=0.0, high=1.0)
    check_number(temperature, what="Temperature", low=0.05, high=2.0)


def evaluate_selective(dataset: str = "cot", model: "str | LoadedModel | None" = None, *, n_samples: int = 5,
                       limit: int | None = 40, alpha: float = S.DEFAULT_ALPHA, seed: int = 0,
                       temperature: float = 1.0, max_new_tokens: int | None = None, n_boot: int = 1000,
                       time_budget_s: float | None = None, progress: ProgressFn | None = None) -> Selective:
    """Selective prediction on the first ``limit`` questions of ``dataset`` ("cot" or "rag").

    Each question: a greedy answer, ``n_samples`` samples at ``temperature`` (question i seeded by
    ``seed + i``), a Yes/No self-evaluation of the greedy answer. Returns every score's accuracy-coverage
    curve, AUACC and AUROC (with percentile-bootstrap intervals over questions, ``n_boot`` resamples) and
    ASPIRE's alpha sweep. ``time_budget_s=None``: no budget; when a budget runs out after some questions,
    the result covers those (``stopped_early``).
    """
    from backends.models import loaded

    _check(dataset, n_samples, limit, alpha, temperature)
    lm = loaded(model, "base")
    t0 = time.perf_counter()
    deadline = Deadline(time_budget_s)
    items = load_items(dataset, limit)
    report = progress or (lambda f, m: None)
    new = max_new_tokens or MAX_NEW_TOKENS[dataset]
    done: list[tuple[Item, str, list[float], list[str], list[float]]] = []
    stopped = False
    for i, it in enumerate(items):
        if deadline.expired and len(done) >= 2:
            stopped = True
            break
        report(0.9 * i / len(items), f"Answering and sampling question {i + 1} of {len(items)}")
        done.append((it, *answer_question(lm, it, n_samples, seed=seed + i, temperature=temperature,
                                          max_new_tokens=new, deadline=deadline)))
    report(0.9, "Self-evaluating the answers")
    lpy = self_evaluate(lm, [d[0] for d in done], [d[1] for d in done])
    answered = [Answered(it, a, alp, s, slp, ly) for (it, a, alp, s, slp), ly in zip(done, lpy)]
    result = summarise(dataset, lm.name, answered, n_samples=n_samples, alpha=alpha, seed=seed,
                       temperature=temperature, n_boot=n_boot, seconds=time.perf_counter() - t0, stopped=stopped)
    report(1.0, "Done")
    return result


def summarise(dataset: str, model: str, answered: list[Answered], *, n_samples: int, alpha: float, seed: int,
              temperature: float, n_boot: int, seconds: float, stopped: bool = False) -> Selective:
    """Scores, labels and metrics of answered questions (no model needed: cheap to redo at another alpha)."""
    correct = [S.is_correct(a.answer, a.item.references) for a in answered]
    per = [S.selection_scores(a.mean_logprob, a.samples, a.sample_logprobs, a.log_p_yes, alpha) for a in answered]
    scores = {k: [p[k] for p in per] for k in S.SCORES}
    au, ac, au_ci, ac_ci, curves = metrics_of(scores, correct, n_boot=n_boot, seed=seed)
    sweep = alpha_sweep(scores["likelihood"], [a.log_p_yes for a in answered], correct)
    rules = {S.rule_text(a.item.references) for a in answered}
    return Selective(dataset, model, n_samples, float(alpha), int(seed), float(temperature), "; ".join(sorted(rules)),
                     answered, correct, scores, au, ac, au_ci, ac_ci, curves, sweep, float(seconds), stopped)


__all__ = ["DATASETS", "Item", "Answered", "Selective", "evaluate_selective", "summarise", "load_items",
           "answer_question", "self_evaluate", "metrics_of", "alpha_sweep"]
