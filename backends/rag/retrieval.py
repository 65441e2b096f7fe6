"""Retrieval: the top-k passages of a question by dense, BM25 or hybrid ranking, with the prior p(z|x).

Three retrievers over the same passages:

* ``dense``: maximum inner product d(z)^T q(x) of unit sentence embeddings in the FAISS index (the RAG
  paper's retriever, DPR there).
* ``bm25``: the lexical BM25 score (:mod:`backends.rag.sparse`); only passages sharing a term count.
* ``hybrid`` (default): both lists fused. Reciprocal-rank fusion (Cormack et al. 2009) scores a passage
  sum over the two lists of 1 / (c + rank), c = 60, rank counted from 1 in each list's top
  :data:`FUSION_DEPTH`, nothing from a list it is not in. Weighted score fusion instead min-max normalises
  each retriever's exact scores over the candidates (the union of both top lists) and mixes them,
  alpha * dense + (1 - alpha) * bm25.

The prior is the same in every mode: p(z|x) = softmax(d(z)^T q(x) / temperature) over the k chosen
passages, the paper's retriever distribution restricted to them. The mode decides *which* passages the
generator sees; the dense inner product, defined for every passage, weighs them. (Rank-fusion scores
carry no probabilistic meaning, and BM25 scores are unbounded sums of idf weights whose softmax at a
temperature suited to cosines is one-hot.) RAG-Sequence and RAG-Token therefore read the same prior
whatever the retriever.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backends.config import InputError, check_count, check_number, check_text, limits
from backends.decoding import embed
from backends.rag.corpus import Passage
from backends.rag.index import Index
from backends.rag.marginal import DEFAULT_TEMPERATURE, retrieval_prior

DEFAULT_K = 5
MAX_K = 20  # passages per question (each is one row of the generator's batch)
MAX_QUESTION_CHARS = 500
RETRIEVAL_MODES = ("hybrid", "dense", "bm25")  # the first is the default
RETRIEVAL_LABELS = {"hybrid": "hybrid (dense + BM25)", "dense": "dense (embeddings)", "bm25": "BM25 (words)"}
FUSIONS = ("rrf", "weighted")
RRF_C = 60  # reciprocal-rank fusion's constant (Cormack et al. 2009)
FUSION_DEPTH = 100  # passages each retriever contributes to the fusion
DEFAULT_ALPHA = 0.5  # weight of the dense score in weighted fusion


@dataclass(frozen=True)
class Hit:
    """One retrieved passage: its rank in the chosen retriever's list, the dense inner product
    d(z)^T q(x) that defines the prior, the prior p(z|x), and its place under every retriever."""

    passage: Passage
    rank: int  # 0-based, in the list of the retriever that chose it
    score: float  # d(z)^T q(x), whatever the retriever
    prior: float
    dense_rank: int | None = None  # 1-based rank among all passages by the dense score
    bm25_rank: int | None = None  # 1-based rank by BM25 (None: no term in common)
    fused_rank: int | None = None  # 1-based rank in the hybrid fusion (None: in neither top list)
    bm25_score: float = 0.0
    retriever: str = "dense"  # the retrieval mode that chose it

    def to_dict(self) -> dict:
        p = self.passage
        return {"rank": self.rank + 1, "pid": p.pid, "score": round(self.score, 4), "prior": round(self.prior, 4),
                "dense_rank": self.dense_rank, "bm25_rank": self.bm25_rank, "fused_rank": self.fused_rank,
                "bm25_score": round(self.bm25_score, 4), "retriever": self.retriever,
                "year": p.year, "president": p.president, "title": p.title, "text": p.text}


def check_question(question: object) -> str:
    lim = limits()
    q = check_text(question, what="Question")
    if len(q) > MAX_QUESTION_CHARS:
        raise InputError(f"The question is {len(q):,} characters long; the limit is {MAX_QUESTION_CHARS}. "
                         "Ask something shorter.")
    return q[: lim.max_text_chars]


def check_k(k: object, index: Index | None = None) -> int:
    """k in [1, MAX_K]; a corpus with fewer passages than k gives all of them."""
    k = check_count(k, what="k (passages)", low=1, high=MAX_K)
    return k if index is None else min(k, index.size)


def check_retrieval(mode: object, fusion: object = "rrf", alpha: object = DEFAULT_ALPHA) -> tuple[str, str, float]:
    """(mode, fusion, alpha) when valid, else :class:`InputError` naming the choices."""
    if mode not in RETRIEVAL_MODES:
        raise InputError(f"Retrieval must be one of {', '.join(RETRIEVAL_MODES)}, got {mode!r}.")
    if fusion not in FUSIONS:
        raise InputError(f"Fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}.")
    return str(mode), str(fusion), check_number(alpha, what="Dense weight alpha", low=0.0, high=1.0)


def embed_query(index: Index, question: str) -> np.ndarray:
    """(1, d) unit embedding of a question by the embedder the index was built with."""
    from backends.models import registry

    return embed(registry().get(index.embedder_name), [question], what="questions")


def _ranks(scores: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """1-based rank of each of ``ids`` among all passages by ``scores``: 1 + how many score higher."""
    return len(scores) - np.searchsorted(np.sort(scores), scores[ids], side="right") + 1


@dataclass(frozen=True)
class Rankings:
    """One question under every retriever: each list best first, and the exact scores behind them."""

    dense: np.ndarray  # passage ids by the FAISS index, best first (``depth`` of them)
    bm25: np.ndarray  # passage ids with a positive BM25 score, best first (same depth)
    hybrid: np.ndarray  # passage ids by the fused score, best first
    fused: dict[int, float]  # fused score of each hybrid candidate
    dense_scores: np.ndarray  # (n,) d(z)^T q(x) of every passage
    bm25_scores: np.ndarray  # (n,) BM25 score of every passage

    def order(self, mode: str) -> np.ndarray:
        return {"dense": self.dense, "bm25": self.bm25, "hybrid": self.hybrid}[mode]

    def position(self, mode: str, pid: int) -> int | None:
        """1-based place of a passage in one retriever's list, None when it is not there."""
        where = np.flatnonzero(self.order(mode) == pid)
        return int(where[0]) + 1 if where.size else None


def _fuse(dense: np.ndarray, bm25: np.ndarray, dense_scores: np.ndarray, bm25_scores: np.ndarray,
          fusion: str, alpha: float) -> dict[int, float]:
    if fusion == "rrf":
        fused: dict[int, float] = {}
        for ids in (dense, bm25):
            for r, pid in enumerate(ids.tolist(), start=1):
                fused[pid] = fused.get(pid, 0.0) + 1.0 / (RRF_C + r)
        return fused
    cand = np.union1d(dense, bm25).astype(np.int64)

    def scaled(s: np.ndarray) -> np.ndarray:
        lo, hi = float(s.min()), float(s.max())
        return (s - lo) / (hi - lo) if hi > lo else np.zeros_like(s)

    mix = (alpha * scaled(dense_scores[cand].astype(np.float64))
           + (1 - alpha) * scaled(bm25_scores[cand].astype(np.float64)))
    return dict(zip(cand.tolist(), mix.tolist()))


def dense_scores_of(index: Index, q: np.ndarray) -> np.ndarray:
    """(n,) d(z)^T q(x) of every passage, computed by torch: a numpy matrix product would leave OpenBLAS's
    threads spinning and slow the next query embedding, which runs in torch's thread pool, by about 25 ms
    (measured: 17 ms for the embedding alone, 41 ms after a numpy product; 19 ms after this one)."""
    import torch

    with torch.inference_mode():
        return (torch.from_numpy(index.embeddings) @ torch.from_numpy(np.ascontiguousarray(q))).numpy()


def rankings(index: Index, question: str, depth: int = FUSION_DEPTH, *, fusion: str = "rrf",
             alpha: float = DEFAULT_ALPHA, query: np.ndarray | None = None) -> Rankings:
    """Every retriever's list for a question (``depth`` passages each) and the hybrid fusion of the two."""
    depth = max(1, min(int(depth), index.size))
    q = embed_query(index, question) if query is None else np.asarray(query, dtype=np.float32).reshape(1, -1)
    q = np.ascontiguousarray(q, dtype=np.float32)
    _, ids = index.faiss_index.search(q, depth)
    dense = ids[0][ids[0] >= 0].astype(np.int64)  # approximate indexes may return fewer
    dense_scores = dense_scores_of(index, q[0])
    bm25_scores = index.bm25.scores(question)
    positive = np.flatnonzero(bm25_scores > 0)
    top = positive[np.argsort(-bm25_scores[positive], kind="stable")[:depth]]
    fused = _fuse(dense, top, dense_scores, bm25_scores, fusion, alpha)
    hybrid = np.array(sorted(fused, key=lambda pid: (-fused[pid], -dense_scores[pid], pid)), dtype=np.int64)
    return Rankings(dense, top.astype(np.int64), hybrid, fused, dense_scores, bm25_scores)


def hits_from(index: Index, r: Rankings, mode: str, k: int, temperature: float = DEFAULT_TEMPERATURE) -> list[Hit]:
    """The first k passages of one retriever's list as :class:`Hit` records, with the prior over them."""
    chosen = r.order(mode)[:k]
    if not len(chosen):
        raise InputError("No passage shares a word with the question (after stop words), so BM25 finds nothing. "
                         "Rephrase it, or use dense or hybrid retrieval.")
    scores = r.dense_scores[chosen]
    prior = retrieval_prior(scores, temperature)
    dense_ranks, bm25_ranks = _ranks(r.dense_scores, chosen), _ranks(r.bm25_scores, chosen)
    return [Hit(index.passages[int(pid)], i, float(s), float(p), int(dr),
                int(br) if r.bm25_scores[pid] > 0 else None, r.position("hybrid", int(pid)),
                float(r.bm25_scores[pid]), mode)
            for i, (pid, s, p, dr, br) in enumerate(zip(chosen, scores, prior, dense_ranks, bm25_ranks))]


def retrieve(index: Index, question: str, k: int = DEFAULT_K, temperature: float = DEFAULT_TEMPERATURE,
             *, mode: str = RETRIEVAL_MODES[0], fusion: str = "rrf", alpha: float = DEFAULT_ALPHA,
             query: np.ndarray | None = None) -> list[Hit]:
    """Top-k passages by the chosen retriever, ``mode`` "hybrid" (default), "dense" or "bm25", with p(z|x).

    ``fusion`` ("rrf" or "weighted") and ``alpha`` (the dense weight of weighted fusion) shape the hybrid
    list. ``query`` is the question's embedding when the caller has it already. BM25 lists only passages
    that share a term with the question, so it may return fewer than k.
    """
    question = check_question(question)
    k = check_k(k, index)
    temperature = check_number(temperature, what="Temperature", low=1e-3, high=100.0)
    mode, fusion, alpha = check_retrieval(mode, fusion, alpha)
    r = rankings(index, question, max(k, FUSION_DEPTH), fusion=fusion, alpha=alpha, query=query)
    return hits_from(index, r, mode, k, temperature)


def with_prior(hits: list[Hit], temperature: float = DEFAULT_TEMPERATURE) -> list[Hit]:
    """The same hits with the prior recomputed over exactly these passages (after cutting a deeper list to k)."""
    import dataclasses

    prior = retrieval_prior([h.score for h in hits], temperature)
    return [dataclasses.replace(h, prior=float(p)) for h, p in zip(hits, prior)]
