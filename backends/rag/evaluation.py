"""Evaluation on a QA set: recall@n of the passage holding each answer, exact match / F1 per mode (SQuAD)."""
from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from backends.config import InputError
from backends.decoding import Deadline, ProgressFn
from backends.rag.answers import MODES, generator, run_modes, short_answer, texts_of
from backends.rag.corpus import ASSETS
from backends.rag.index import Index
from backends.rag.marginal import DEFAULT_TEMPERATURE
from backends.rag.retrieval import (
    DEFAULT_ALPHA,
    DEFAULT_K,
    FUSION_DEPTH,
    RETRIEVAL_MODES,
    check_k,
    check_question,
    check_retrieval,
    hits_from,
    rankings,
)

if TYPE_CHECKING:
    from backends.models import LoadedModel

QA_PATH = ASSETS / "qa.jsonl"
QA_REWORDED_PATH = ASSETS / "qa-reworded.jsonl"  # 22 of the built-in questions in other words (same passages)
RECALL_AT = (1, 5, 10)


def normalize_answer(s: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    s = s.lower()
    s = "".join(ch for ch in s if ch.isalnum() or ch.isspace())
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    p = normalize_answer(short_answer(prediction))
    return float(any(p == normalize_answer(g) for g in golds))


def f1_score(prediction: str, golds: Sequence[str]) -> float:
    """Best token-overlap F1 against any gold answer (SQuAD)."""
    pred = normalize_answer(short_answer(prediction)).split()
    best = 0.0
    for g in golds:
        gold = normalize_answer(g).split()
        common = sum((Counter(pred) & Counter(gold)).values())
        if not pred or not gold or common == 0:
            best = max(best, float(pred == gold))
            continue
        prec, rec = common / len(pred), common / len(gold)
        best = max(best, 2 * prec * rec / (prec + rec))
    return best


def contains_answer(prediction: str, golds: Sequence[str]) -> float:
    """Whether a gold answer appears anywhere in the generation (lenient: small models ramble)."""
    p = f" {normalize_answer(prediction)} "
    return float(any(normalize_answer(g) and f" {normalize_answer(g)} " in p for g in golds))


def load_qa(path: Path = QA_PATH) -> list[dict]:
    """The built-in QA set: question, answer, aliases, and the passage holding the answer (pid, doc)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@dataclass(frozen=True)
class Report:
    n: int
    k: int
    modes: list[str]
    recall: dict[int, float]  # recall@n of the passage holding the answer, n in (1, 5, 10), by ``retrieval``
    exact_match: dict[str, float]  # per mode
    f1: dict[str, float]
    contains: dict[str, float]
    records: list[dict]  # one per question
    seconds: float
    retrieval: str = RETRIEVAL_MODES[0]  # the retriever whose passages the generator saw
    recall_by_retrieval: dict[str, dict[int, float]] | None = None  # recall@n of every retriever, same run

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def evaluate_iter(index: Index, qa_pairs: Sequence[dict], k: int = DEFAULT_K, *,
                  modes: Sequence[str] = MODES, temperature: float = DEFAULT_TEMPERATURE,
                  max_new_tokens: int = 16, lm: "LoadedModel | str | None" = None,
                  deadline: Deadline | float | None = None, retrieval: str = RETRIEVAL_MODES[0],
                  fusion: str = "rrf", alpha: float = DEFAULT_ALPHA) -> Iterable[dict]:
    """One record per question: the answer passage's rank under every retriever and, for each mode, the
    answer (from the passages of ``retrieval``) and its EM/F1.

    ``deadline`` (a :class:`Deadline` or a ``time.monotonic()`` value; None: none) bounds the whole run.
    """
    modes = [m for m in MODES if m in modes]
    k = check_k(k, index)
    retrieval, fusion, alpha = check_retrieval(retrieval, fusion, alpha)
    model = generator(lm) if modes else None
    deadline = Deadline.of(deadline)
    depth = max(max(RECALL_AT), k, FUSION_DEPTH)
    for qa in qa_pairs:
        golds = [qa["answer"], *qa.get("aliases", [])]
        r = rankings(index, check_question(qa["question"]), depth, fusion=fusion, alpha=alpha)
        ranked = r.order(retrieval)
        rec = {"id": qa.get("id"), "question": qa["question"], "answer": qa["answer"], "gold_pid": qa.get("pid"),
               "retrieval": retrieval, "top_pid": int(ranked[0]) if len(ranked) else None,
               "top_score": round(float(r.dense_scores[ranked[0]]), 4) if len(ranked) else None}
        for m in RETRIEVAL_MODES:
            rank = r.position(m, qa["pid"]) if qa.get("pid") is not None else None
            rec[f"gold_rank_{m}"] = rank
            for n in RECALL_AT:
                rec[f"recall@{n}_{m}"] = float(rank is not None and rank <= n)
        rec["gold_rank"] = rec[f"gold_rank_{retrieval}"]
        for n in RECALL_AT:
            rec[f"recall@{n}"] = rec[f"recall@{n}_{retrieval}"]
        if modes:
            hits = hits_from(index, r, retrieval, k, temperature)
            res = run_modes(model, qa["question"], hits, modes, max_new_tokens=max_new_tokens, deadline=deadline)
            for m in modes:
                text = texts_of(model, res[m].ids)[0]
                rec[f"{m}_answer"] = text
                rec[f"{m}_em"] = exact_match(text, golds)
                rec[f"{m}_f1"] = round(f1_score(text, golds), 4)
                rec[f"{m}_contains"] = contains_answer(text, golds)
        yield rec


def summarize(records: Sequence[dict], k: int, modes: Sequence[str], seconds: float,
              retrieval: str = RETRIEVAL_MODES[0]) -> Report:
    n = len(records)
    mean = lambda key: float(np.mean([r[key] for r in records])) if n else float("nan")  # noqa: E731
    modes = [m for m in MODES if m in modes]
    by = {m: {r: mean(f"recall@{r}_{m}") for r in RECALL_AT} for m in RETRIEVAL_MODES}
    return Report(n=n, k=k, modes=modes, recall=dict(by[retrieval]),
                  exact_match={m: mean(f"{m}_em") for m in modes}, f1={m: mean(f"{m}_f1") for m in modes},
                  contains={m: mean(f"{m}_contains") for m in modes}, records=list(records), seconds=seconds,
                  retrieval=retrieval, recall_by_retrieval=by)


def evaluate(index: Index, qa_pairs: Sequence[dict] | None = None, k: int = DEFAULT_K, *,
             modes: Sequence[str] = MODES, temperature: float = DEFAULT_TEMPERATURE, max_new_tokens: int = 16,
             lm: "LoadedModel | str | None" = None, progress: ProgressFn | None = None,
             time_budget_s: float | None = None, retrieval: str = RETRIEVAL_MODES[0], fusion: str = "rrf",
             alpha: float = DEFAULT_ALPHA) -> Report:
    """Recall@1/5/10 of the passage holding each answer under every retriever, and exact match / F1 per
    mode with the passages of ``retrieval`` ("hybrid", "dense" or "bm25"; ``fusion``/``alpha`` for hybrid).

    ``qa_pairs`` default to the built-in set; ``modes=()`` evaluates retrieval alone (seconds).
    ``time_budget_s`` bounds the whole run (None: no budget).
    """
    qa_pairs = load_qa() if qa_pairs is None else list(qa_pairs)
    if not qa_pairs:
        raise InputError("No question-answer pairs to evaluate.")
    bad = [i for i, q in enumerate(qa_pairs) if not isinstance(q, dict) or "question" not in q or "answer" not in q]
    if bad:
        raise InputError(f"QA pair {bad[0] + 1} needs 'question' and 'answer' fields.")
    t0 = time.perf_counter()
    records = []
    for i, rec in enumerate(evaluate_iter(index, qa_pairs, k, modes=modes, temperature=temperature,
                                          max_new_tokens=max_new_tokens, lm=lm, deadline=Deadline(time_budget_s),
                                          retrieval=retrieval, fusion=fusion, alpha=alpha)):
        records.append(rec)
        if progress:
            progress((i + 1) / len(qa_pairs), f"Question {i + 1}/{len(qa_pairs)}")
    return summarize(records, k, modes, time.perf_counter() - t0, retrieval)  # evaluate_iter checked it
