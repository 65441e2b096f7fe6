"""Faults in the RAG index cache and the framing analysis cache: damaged entries are detected and rebuilt.

(The model cache has its own fault tests in tests/app/test_faults.py.) These use the backends' cache
functions on a private folder, with a small corpus, so nothing here builds the full corpora.
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from backends.cache import MANIFEST  # the RAG cache entry's manifest

pytestmark = pytest.mark.integration

rag = pytest.importorskip("backends.rag")
framing = pytest.importorskip("backends.framing")

TEXTS = ["The harbour of the old town fills with fishing boats every morning before dawn. " * 3,
         "A new bridge across the river opened last spring and halved the journey to the market. " * 3,
         "The library keeps letters written by the first settlers, with maps of the valley. " * 3]


@pytest.fixture()
def rag_cache(registry, tmp_path):
    rag.forget_memo()
    yield tmp_path / "rag"
    rag.forget_memo()


def _build(root):
    return rag.build_index(texts=TEXTS, cache_dir=root)


def test_rag_index_is_cached_then_read_back(rag_cache):
    first = _build(rag_cache)
    assert first.source == "built" and first.cache_path
    rag.forget_memo()
    again = _build(rag_cache)
    assert again.source == "cache" and again.key == first.key
    assert np.allclose(again.embeddings, first.embeddings)


@pytest.mark.parametrize("damage", ["embeddings truncated", "embeddings altered, same size", "manifest missing",
                                    "passages file missing", "half-written temp folder left behind"])
def test_damaged_rag_cache_entry_is_detected_and_rebuilt(rag_cache, damage):
    first = _build(rag_cache)
    entry = rag_cache / first.key
    emb = entry / "embeddings.npy"
    if damage == "embeddings truncated":
        emb.write_bytes(emb.read_bytes()[: emb.stat().st_size // 2])
    elif damage == "embeddings altered, same size":
        data = bytearray(emb.read_bytes())
        data[-8:] = b"\x7f" * 8
        emb.write_bytes(bytes(data))
    elif damage == "manifest missing":
        (entry / MANIFEST).unlink()
    elif damage == "passages file missing":
        (entry / "passages.jsonl").unlink()
    else:
        (rag_cache / f".tmp-{first.key}-deadbeef").mkdir()
        (rag_cache / f".tmp-{first.key}-deadbeef" / "embeddings.npy").write_bytes(b"\x93NUMPY partial")
    if damage != "half-written temp folder left behind":
        with pytest.raises(rag.CacheError):
            rag.load_cache(rag_cache, first.key)
    rag.forget_memo()
    again = _build(rag_cache)
    expected = "cache" if damage == "half-written temp folder left behind" else "rebuilt-built"  # the user is told
    assert again.source == expected, damage
    assert np.allclose(again.embeddings, first.embeddings, atol=1e-5)
    rag.load_cache(rag_cache, first.key)  # the entry on disk is whole again


@pytest.fixture()
def framing_cache(tmp_path, monkeypatch):
    key = "test-key"
    path = tmp_path / "framing" / f"corpus-{key}.pkl"
    monkeypatch.setattr(framing.corpus, "cache_key", lambda *a, **k: key)
    monkeypatch.setattr(framing.corpus, "cache_path", lambda k=None: path)
    framing.forget_memo()
    yield path, key
    framing.forget_memo()


def _valid_result(key):
    import pandas as pd

    return {"key": key, "segments": pd.DataFrame({"year": [1990], "relevant": [True]}), "metaphors": [],
            "seconds": 1.0, "built": "now"}


def test_framing_cache_round_trip(framing_cache):
    path, key = framing_cache
    framing.write_cache(path, _valid_result(key))
    got = framing.cached_result()
    assert got is not None and got["key"] == key


@pytest.mark.parametrize("damage", ["truncated", "garbage", "another key", "not a result"])
def test_damaged_framing_cache_is_detected_and_removed_for_a_rebuild(framing_cache, damage):
    path, key = framing_cache
    framing.write_cache(path, _valid_result(key))
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:40])
    elif damage == "garbage":
        path.write_bytes(b"\x00\x01 not a pickle" * 10)
    elif damage == "another key":
        path.write_bytes(pickle.dumps(_valid_result("other-key")))
    else:
        path.write_bytes(pickle.dumps([1, 2, 3]))
    assert framing.cached_result() is None  # never used ...
    assert not path.exists()  # ... and removed, so that the next request rebuilds it


def test_interrupted_framing_cache_write_leaves_nothing(framing_cache):
    path, key = framing_cache

    class Boom:
        def __reduce__(self):
            raise KeyboardInterrupt  # the process stopped while pickling

    with pytest.raises(KeyboardInterrupt):
        framing.write_cache(path, {"key": key, "x": Boom()})
    assert not path.exists()
    assert not list(path.parent.iterdir())


def test_damaged_framing_cache_is_rebuilt_and_the_user_told(framing_cache, monkeypatch):
    import pandas as pd

    path, key = framing_cache
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"half a pickle")
    monkeypatch.setattr(framing.corpus, "corpus_segments", lambda *a, **k: pd.DataFrame({"year": [1990]}))
    monkeypatch.setattr(framing.corpus, "analyze_segments",
                        lambda seg, progress=None, **k: (pd.DataFrame({"year": [1990], "relevant": [True]}), []))
    said = []
    r = framing.corpus_result(progress=lambda f, m: said.append(m))
    assert r["rebuilt"] and not r["from_cache"] and "damaged" in said[0]
    assert framing.cached_result()["key"] == key  # whole again on disk
