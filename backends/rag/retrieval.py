"""Retrieval: the top-k passages by inner product with the question's embedding, with the prior p(z|x)."""
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


@dataclass(frozen=True)
class Hit:
    """One retrieved passage: the passage, its rank, inner product d(z)^T q(x) and prior p(z|x)."""

    passage: Passage
    rank: int
    score: float
    prior: float

    def to_dict(self) -> dict:
        p = self.passage
        return {"rank": self.rank + 1, "pid": p.pid, "score": round(self.score, 4), "prior": round(self.prior, 4),
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


def embed_query(index: Index, question: str) -> np.ndarray:
    """(1, d) unit embedding of a question by the embedder the index was built with."""
    from backends.models import registry

    return embed(registry().get(index.embedder_name), [question], what="questions")


def retrieve(index: Index, question: str, k: int = DEFAULT_K, temperature: float = DEFAULT_TEMPERATURE,
             *, query: np.ndarray | None = None) -> list[Hit]:
    """Top-k passages by inner product with the question's embedding, with the prior p(z|x)."""
    question = check_question(question)
    k = check_k(k, index)
    temperature = check_number(temperature, what="Temperature", low=1e-3, high=100.0)
    q = embed_query(index, question) if query is None else np.asarray(query, dtype=np.float32).reshape(1, -1)
    scores, ids = index.faiss_index.search(np.ascontiguousarray(q, dtype=np.float32), k)
    keep = ids[0] >= 0  # approximate indexes may return fewer than k
    scores, ids = scores[0][keep], ids[0][keep]
    prior = retrieval_prior(scores, temperature)
    return [Hit(index.passages[int(i)], r, float(s), float(p)) for r, (i, s, p) in enumerate(zip(ids, scores, prior))]


def with_prior(hits: list[Hit], temperature: float = DEFAULT_TEMPERATURE) -> list[Hit]:
    """The same hits with the prior recomputed over exactly these passages (after cutting a deeper list to k)."""
    prior = retrieval_prior([h.score for h in hits], temperature)
    return [Hit(h.passage, h.rank, h.score, float(p)) for h, p in zip(hits, prior)]
