"""Evaluation on a QA set: recall@n of the passage holding each answer, exact match / F1 per mode (SQuAD)."""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from backends import sweeps
from backends.config import InputError
from backends.decoding import Deadline, ProgressFn
from backends.rag.answers import MODES, generator, run_modes, short_answer, texts_of
from backends.rag.corpus import ASSETS, DEFAULT_CORPUS
from backends.rag.index import Index, build_index, lookup
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
    stopped: str = ""  # "" or why the run ended early ("stopped", "time cap"): the figures cover ``n`` questions
    sweep: dict = field(default_factory=dict)  # how it ran: backend, workers, failed items (SweepResult.summary())

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def evaluate_iter(index: Index, qa_pairs: Sequence[dict], k: int = DEFAULT_K, *,
                  modes: Sequence[str] = MODES, temperature: float = DEFAULT_TEMPERATURE,
                  max_new_tokens: int = 16, lm: "LoadedModel | str | None" = None,
                  deadline: Deadline | float | None = None, retrieval: str = RETRIEVAL_MODES[0],
                  fusion: str = "rrf", alpha: float = DEFAULT_ALPHA) -> Iterable[dict]:
    """One record per question: the answer passage's rank under every retriever and, for each mode, the
    answer (from the passages of ``retrieval``) and its EM/F1 (see :func:`evaluate_question`).

    ``deadline`` (a :class:`Deadline` or a ``time.monotonic()`` value; None: none) bounds the whole run.
    """
    modes = [m for m in MODES if m in modes]
    k = check_k(k, index)
    retrieval, fusion, alpha = check_retrieval(retrieval, fusion, alpha)
    model = generator(lm) if modes else None
    deadline = Deadline.of(deadline)
    for qa in qa_pairs:
        yield evaluate_question(index, model, qa, k=k, modes=modes, temperature=temperature,
                                max_new_tokens=max_new_tokens, retrieval=retrieval, fusion=fusion, alpha=alpha,
                                deadline=deadline)


def evaluate_question(index: Index, model: "LoadedModel | None", qa: dict, *, k: int, modes: Sequence[str],
                      temperature: float, max_new_tokens: int, retrieval: str, fusion: str, alpha: float,
                      deadline: Deadline | None = None) -> dict:
    """One question's record (settings checked by the caller, ``modes`` in :data:`MODES` order, ``model`` the
    generator or None without modes): the gold passage's rank and recall@n under every retriever, the top
    passage of ``retrieval`` and, per mode, the answer with its exact match, F1 and whether it contains a gold
    answer. Greedy throughout: the same question gives the same record wherever it runs."""
    golds = [qa["answer"], *qa.get("aliases", [])]
    r = rankings(index, check_question(qa["question"]), max(max(RECALL_AT), k, FUSION_DEPTH), fusion=fusion,
                 alpha=alpha)
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
    return rec


def summarize(records: Sequence[dict], k: int, modes: Sequence[str], seconds: float,
              retrieval: str = RETRIEVAL_MODES[0], stopped: str = "", sweep: dict | None = None) -> Report:
    n = len(records)
    mean = lambda key: float(np.mean([r[key] for r in records])) if n else float("nan")  # noqa: E731
    modes = [m for m in MODES if m in modes]
    by = {m: {r: mean(f"recall@{r}_{m}") for r in RECALL_AT} for m in RETRIEVAL_MODES}
    return Report(n=n, k=k, modes=modes, recall=dict(by[retrieval]),
                  exact_match={m: mean(f"{m}_em") for m in modes}, f1={m: mean(f"{m}_f1") for m in modes},
                  contains={m: mean(f"{m}_contains") for m in modes}, records=list(records), seconds=seconds,
                  retrieval=retrieval, recall_by_retrieval=by, stopped=stopped, sweep=sweep or {})


# ----- the evaluation as a sweep ("rag" kind, backends/sweeps.py) ------------------------------------
# A worker rebuilds the index from the options: the default corpus by name (its memo, cache folder or shipped
# embeddings, then the same content key is checked), another corpus only from its cache entry on disk, by key.
# A user corpus's passages are not put in the options: an upload can hold thousands of passages (megabytes of
# text, re-embedded by every worker), and the options are hashed and sent with every worker. So a user corpus
# runs on local Ray workers, which read this machine's cache folder, and is refused on a remote cluster or when
# it was built without a cache; in-process always works.
def qa_item(qa: dict) -> dict:
    """A QA pair as a sweep item: the fields a record uses."""
    return {key: qa[key] for key in ("id", "question", "answer", "aliases", "pid") if key in qa}


def check_qa(qa_pairs: Sequence[dict]) -> list[dict]:
    qa_pairs = list(qa_pairs)
    if not qa_pairs:
        raise InputError("No question-answer pairs to evaluate.")
    bad = [i for i, q in enumerate(qa_pairs) if not isinstance(q, dict) or "question" not in q or "answer" not in q]
    if bad:
        raise InputError(f"QA pair {bad[0] + 1} needs 'question' and 'answer' fields.")
    return qa_pairs


def sweep_options(index: Index, k: int = DEFAULT_K, *, modes: Sequence[str] = MODES,
                  temperature: float = DEFAULT_TEMPERATURE, max_new_tokens: int = 16,
                  lm: "LoadedModel | str | None" = None, retrieval: str = RETRIEVAL_MODES[0], fusion: str = "rrf",
                  alpha: float = DEFAULT_ALPHA) -> dict:
    """The evaluation's settings as sweep options (checked): what a worker needs to rebuild the same index (its
    corpus, content key, FAISS kind and embedder) and load the same generator (by registry name; None without
    modes), and the retrieval and generation settings."""
    from backends.models import LoadedModel, registry

    modes = [m for m in MODES if m in modes]
    retrieval, fusion, alpha = check_retrieval(retrieval, fusion, alpha)
    name = None if not modes else lm.name if isinstance(lm, LoadedModel) else registry().resolve(lm, slot="reader")
    default = index.name == DEFAULT_CORPUS
    return {"corpus": "default" if default else "cached", "index_key": index.key, "index_kind": index.kind,
            "embedder": index.embedder_name, "cache_dir": "" if default or not index.cache_path
            else str(Path(index.cache_path).parent), "k": check_k(k, index), "modes": modes,
            "temperature": float(temperature), "max_new_tokens": int(max_new_tokens), "generator": name,
            "retrieval": retrieval, "fusion": fusion, "alpha": alpha}


def check_shareable(index: Index, address: str | None = None) -> None:
    """Refuse, before any worker starts, an index that Ray workers could not rebuild (see above)."""
    if index.name == DEFAULT_CORPUS:
        return
    where = sweeps.ray_address(address)
    if not index.cache_path:
        raise InputError(f"The index of {index.name} was built without a cache, so Ray workers cannot load it: run "
                         "this evaluation in-process (backend \"local\"), or build the index with the cache on.")
    if where:
        raise InputError(f"The index of {index.name} is cached on this machine only, where the Ray cluster at "
                         f"{where} cannot read it: run this evaluation in-process (backend \"local\").")


def index_for(options: dict) -> Index:
    """The index the options name: this process's own (its memo) or its cache entry, else, for the default
    corpus, built by name; checked to hold the same content as the driver's."""
    key, kind = options["index_key"], options["index_kind"]
    index = lookup(key, kind, cache_dir=options.get("cache_dir") or None)
    if index is None and options["corpus"] == "default":
        index = build_index(kind=kind, embedder=options["embedder"])
    if index is None:
        raise InputError("This corpus's index is not in this worker's cache folder, and an uploaded or pasted "
                         "corpus cannot be rebuilt by name: run the evaluation in-process.")
    if index.key != key:
        raise InputError(f"This worker's default corpus differs from the driver's (index key {index.key[:12]} vs "
                         f"{key[:12]}): run the evaluation in-process, or give both the same code and data.")
    return index


def _sweep_state(index: Index, lm: "LoadedModel | str | None", options: dict) -> dict:
    settings = {k: options[k] for k in ("k", "modes", "temperature", "max_new_tokens", "retrieval", "fusion",
                                        "alpha")}
    return {"index": index, "lm": generator(lm) if options["modes"] else None, **settings}


def _sweep_setup(options: dict) -> dict:
    """A worker's index and generator, loaded once (the index from this process's memo when it holds it)."""
    return _sweep_state(index_for(options), options["generator"], options)


def _sweep_run(state: dict, items: list[dict], seeds: list[int]) -> list[dict]:
    settings = {k: v for k, v in state.items() if k not in ("index", "lm")}
    return [evaluate_question(state["index"], state["lm"], qa, **settings) for qa in items]  # greedy: no seeds


def _sweep_models(options: dict) -> list[str]:
    return [options["embedder"]] + ([options["generator"]] if options["modes"] else [])


SWEEP = sweeps.Kind("rag", _sweep_setup, _sweep_run, models=_sweep_models, version="1",
                    required=("corpus", "index_key", "index_kind", "embedder", "cache_dir", "k", "modes",
                              "temperature", "max_new_tokens", "generator", "retrieval", "fusion", "alpha"),
                    builder="backends.rag.evaluation.sweep_options(index, k, ...)")


def record_keys(modes: Sequence[str]) -> list[str]:
    """A record's fields in the order :func:`evaluate_question` writes them (``modes`` in :data:`MODES` order)."""
    keys = ["id", "question", "answer", "gold_pid", "retrieval", "top_pid", "top_score"]
    keys += [f"{name}_{m}" for m in RETRIEVAL_MODES for name in ("gold_rank", *(f"recall@{n}" for n in RECALL_AT))]
    keys += ["gold_rank", *(f"recall@{n}" for n in RECALL_AT)]
    return keys + [f"{m}_{field}" for m in modes for field in ("answer", "em", "f1", "contains")]


def from_sweep(res: "sweeps.SweepResult", options: dict) -> Report:
    """The report on the questions a sweep finished (failed or unreached ones are left out, counted in ``sweep``).
    Records keep one field order, whether computed now or read back from a results file."""
    keys = record_keys(options["modes"])
    records = [{k: r[k] for k in keys} for r in res.results if r is not None]
    return summarize(records, options["k"], options["modes"], res.seconds, options["retrieval"], res.stopped,
                     res.summary())


def evaluate(index: Index, qa_pairs: Sequence[dict] | None = None, k: int = DEFAULT_K, *,
             modes: Sequence[str] = MODES, temperature: float = DEFAULT_TEMPERATURE, max_new_tokens: int = 16,
             lm: "LoadedModel | str | None" = None, progress: ProgressFn | None = None,
             time_budget_s: float | None = None, retrieval: str = RETRIEVAL_MODES[0], fusion: str = "rrf",
             alpha: float = DEFAULT_ALPHA, backend: str = "local", workers: int = 1, resume: bool = False) -> Report:
    """Recall@1/5/10 of the passage holding each answer under every retriever, and exact match / F1 per
    mode with the passages of ``retrieval`` ("hybrid", "dense" or "bm25"; ``fusion``/``alpha`` for hybrid).

    ``qa_pairs`` default to the built-in set; ``modes=()`` evaluates retrieval alone (seconds).
    Runs as the "rag" sweep (:mod:`backends.sweeps`), a question a batch: in-process with this ``index`` object
    and generator, or with ``backend="ray"`` on ``workers`` Ray workers, each loading the index (the default
    corpus, or a cached one on local Ray; see :func:`check_shareable`) and the generator once, with the same
    records. ``resume`` reuses the questions an earlier run with the same settings finished. ``time_budget_s``
    (None: no budget) stops the run between questions; the figures then cover the questions done (``stopped``).
    """
    qa_pairs = check_qa(load_qa() if qa_pairs is None else qa_pairs)
    options = sweep_options(index, k, modes=modes, temperature=temperature, max_new_tokens=max_new_tokens, lm=lm,
                            retrieval=retrieval, fusion=fusion, alpha=alpha)
    local: Any = None
    if backend == "ray":
        check_shareable(index)  # the models (embedder, generator) are checked by name by the sweep runner
    else:
        local = _sweep_state(index, lm, options)
    res = sweeps.run_sweep("rag", [qa_item(q) for q in qa_pairs], options, backend=backend, workers=workers,
                           resume=resume, time_budget_s=time_budget_s, progress=progress, local_state=local)
    return from_sweep(res, options)
