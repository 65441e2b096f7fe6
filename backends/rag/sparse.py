"""The lexical retriever: BM25 over the same passages as the dense index, cached on disk.

BM25 (Robertson et al.; Lucene's variant, k1 = 1.5, b = 0.75) scores a passage z for a question x as
sum over the question's terms t of idf(t) * tf(t, z) / (tf(t, z) + k1 * (1 - b + b * |z| / avgdl)), with
idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5)); Lucene drops the classic (k1 + 1) factor, which scales
every score alike.
Terms are lower-cased words of two or more letters, English stop words removed, Snowball-stemmed, so
"immigrants" and "immigration" share a stem. The index is a sparse matrix of precomputed term scores
(the ``bm25s`` library), so scoring a question is a sum of a few sparse rows: about a millisecond for
the 17,796 passages of the default corpus.

Entries live under ``<workbench cache>/rag/bm25-<key>``, the key hashing the passages' text and
:data:`BM25_FORMAT`; they are written by :func:`backends.cache.atomic_dir` with a checksummed manifest and
rebuilt when a check fails. Built indexes stay in a small memo in which the default corpus is pinned.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from backends.cache import CacheError, Memo, atomic_dir, check_manifest, write_manifest
from backends.rag.corpus import Passage, corpus_hash

log = logging.getLogger("backends.rag")

BM25_FORMAT = 1  # bump to invalidate every cached BM25 index
K1, B = 1.5, 0.75  # Lucene's defaults, which bm25s uses
MEMO_SIZE = 4


@functools.lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer  # PyStemmer: Snowball stemmers in C

    return Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """BM25's terms of each text: lower-cased words (2+ characters), stop words removed, stemmed."""
    import bm25s

    return bm25s.tokenize(list(texts), stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)


@dataclass(frozen=True)
class Bm25Index:
    """A BM25 index over passages 0..n-1 (the dense index's order)."""

    key: str
    n: int
    vocabulary: int  # distinct stemmed terms
    retriever: Any = field(repr=False)  # bm25s.BM25
    source: str = "built"  # "built" or "cache"
    seconds: float = 0.0
    cache_path: str = ""

    def scores(self, question: str) -> np.ndarray:
        """(n,) BM25 score of every passage for the question; all zeros when no term is in the vocabulary."""
        terms = tokenize([question])[0]
        ids = self.retriever.get_tokens_ids(terms)
        if not ids:
            return np.zeros(self.n, dtype=np.float32)
        return np.asarray(self.retriever.get_scores_from_ids(ids), dtype=np.float32)

    def query_terms(self, question: str) -> list[str]:
        """The question's stemmed terms that the index knows (what BM25 matches on)."""
        return [t for t in tokenize([question])[0] if t in self.retriever.vocab_dict]

    def status(self) -> dict:
        return {"passages": self.n, "vocabulary": self.vocabulary, "source": self.source,
                "seconds": round(self.seconds, 2), "cached": bool(self.cache_path)}


def bm25_key(passages: Sequence[Passage]) -> str:
    return hashlib.sha256(f"bm25-f{BM25_FORMAT}|k1={K1}|b={B}|{corpus_hash(passages)}".encode()).hexdigest()[:32]


def _build(passages: Sequence[Passage]) -> Any:
    import bm25s

    retriever = bm25s.BM25(k1=K1, b=B, method="lucene")
    retriever.index(tokenize([p.embed_text() for p in passages]), show_progress=False)
    return retriever


def _load(entry: Path, key: str, n: int) -> Any:
    import bm25s

    check_manifest(entry, format=BM25_FORMAT, key=key, n=n)
    try:
        retriever = bm25s.BM25.load(str(entry), show_progress=False)
    except (OSError, ValueError, KeyError) as e:
        raise CacheError(f"unreadable: {type(e).__name__}: {e}") from None
    if int(retriever.scores["num_docs"]) != n:
        raise CacheError("the index holds another number of passages")
    return retriever


def _save(entry: Path, key: str, n: int, retriever: Any) -> None:
    with atomic_dir(entry) as tmp:
        retriever.save(str(tmp), show_progress=False)
        write_manifest(tmp, checksums=True, format=BM25_FORMAT, key=key, n=n)


def _load_or_build(passages: Sequence[Passage], key: str, root: Path | None) -> Bm25Index:
    t0 = time.perf_counter()
    entry = root / f"bm25-{key}" if root is not None else None
    if entry is not None and entry.exists():
        try:
            retriever = _load(entry, key, len(passages))
            return Bm25Index(key, len(passages), len(retriever.vocab_dict), retriever, "cache",
                             time.perf_counter() - t0, str(entry))
        except CacheError as e:
            log.warning("BM25 cache entry %s is stale or corrupt (%s); rebuilding it", entry.name, e)
    retriever = _build(passages)
    cache_path = ""
    if entry is not None:
        try:
            _save(entry, key, len(passages), retriever)
            cache_path = str(entry)
        except OSError as e:  # read-only or full disk: the index still works from memory
            log.warning("could not cache the BM25 index: %s", e)
    return Bm25Index(key, len(passages), len(retriever.vocab_dict), retriever, "built", time.perf_counter() - t0,
                     cache_path)


_pinned: set[str] = set()  # keys of the default corpus: eviction skips them
_memo: Memo[str, Bm25Index] = Memo(MEMO_SIZE, pinned=lambda index: index.key in _pinned)


def bm25_index(passages: Sequence[Passage], *, use_cache: bool = True, cache_dir: str | Path | None = None,
               pin: bool = False) -> Bm25Index:
    """The BM25 index over ``passages``: from memory, from the cache folder, or built (seconds)."""
    if not passages:
        raise ValueError("no passages to index")
    key = bm25_key(passages)
    if pin:
        _pinned.add(key)
    if not use_cache:
        return _load_or_build(passages, key, None)
    if cache_dir is None:
        from backends.rag.index import cache_root

        cache_dir = cache_root()
    return _memo.get_or_build(key, lambda: _load_or_build(passages, key, Path(cache_dir)))


def forget_memo() -> None:
    _memo.clear()

