"""Hybrid retrieval without real models: BM25 against a hand-written Lucene BM25, both fusions on hand-made
lists, the prior in every mode, the BM25 cache, and the evaluation's per-retriever recall."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from backends import cache
from backends import rag as R
from backends.config import InputError
from backends.rag import sparse
from backends.rag.retrieval import _fuse
from tests.rag_helpers import DOCS, fake_rag_registry


@pytest.fixture()
def fake_registry(tmp_path):
    with fake_rag_registry(tmp_path) as reg:
        yield reg


CORPUS = ["harbor battleship maine harbor", "battleship fleet", "lewis clark river expedition river river",
          "tariff bill congress", "harbor cargo"]


def lucene_bm25(docs: list[list[str]], query: list[str], k1: float = 1.5, b: float = 0.75) -> np.ndarray:
    """BM25 as Lucene (8 and later) defines it, written from the formula: idf = ln(1 + (N - df + 0.5) / (df + 0.5))
    and tf / (tf + k1 (1 - b + b |d| / avgdl)), without the classic (k1 + 1) factor (it does not change ranks)."""
    n, avgdl = len(docs), sum(map(len, docs)) / len(docs)
    df = Counter(t for d in docs for t in set(d))
    out = np.zeros(n)
    for i, d in enumerate(docs):
        tf = Counter(d)
        for t in query:
            if tf[t]:
                idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                out[i] += idf * tf[t] / (tf[t] + k1 * (1 - b + b * len(d) / avgdl))
    return out


def _passages(texts):
    return [R.Passage(i, "d", "", t) for i, t in enumerate(texts)]


def test_bm25_scores_match_the_lucene_formula():
    index = sparse.bm25_index(_passages(CORPUS), use_cache=False)
    terms = sparse.tokenize(CORPUS)  # the reference scores the same stemmed terms
    assert terms[0] == ["harbor", "battleship", "main", "harbor"]  # Snowball: maine -> main
    for q in ("battleship harbor", "river", "the expedition of lewis", "harbor harbor cargo"):
        expect = lucene_bm25(terms, sparse.tokenize([q])[0])
        np.testing.assert_allclose(index.scores(q), expect, rtol=1e-5)
    assert not index.scores("nothing shared here").any() and index.query_terms("the river of x") == ["river"]


def test_bm25_stems_and_drops_stop_words():
    index = sparse.bm25_index(_passages(["immigrants arrived at the ports", "tariffs on steel"]), use_cache=False)
    s = index.scores("Immigration and the PORT")
    assert s[0] > 0 and s[1] == 0  # immigration ~ immigrants and port ~ ports share stems; "the", "and" do not count


def test_reciprocal_rank_fusion_by_hand():
    dense, bm25 = np.array([3, 1, 2]), np.array([1, 4])
    fused = _fuse(dense, bm25, np.zeros(5), np.zeros(5), "rrf", 0.5)
    c = R.RRF_C
    assert fused == pytest.approx({3: 1 / (c + 1), 1: 1 / (c + 2) + 1 / (c + 1), 2: 1 / (c + 3), 4: 1 / (c + 2)})
    assert max(fused, key=fused.get) == 1  # second and first beats first and absent


def test_weighted_fusion_reduces_to_either_retriever_at_the_ends():
    dense_scores = np.array([0.9, 0.1, 0.5, 0.3])
    bm25_scores = np.array([0.0, 7.0, 2.0, 5.0])
    ids = np.array([0, 1, 2, 3])
    only_dense = _fuse(ids, ids, dense_scores, bm25_scores, "weighted", 1.0)
    only_bm25 = _fuse(ids, ids, dense_scores, bm25_scores, "weighted", 0.0)
    assert sorted(only_dense, key=only_dense.get, reverse=True) == [0, 2, 3, 1]
    assert sorted(only_bm25, key=only_bm25.get, reverse=True) == [1, 3, 2, 0]
    half = _fuse(ids, ids, dense_scores, bm25_scores, "weighted", 0.5)
    assert half[2] == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 7)  # min-max scaled: (0.5-0.1)/0.8 and 2/7


def test_every_mode_ranks_its_own_way_with_the_dense_prior(fake_registry):
    texts = DOCS + ["the battleship maine exploded in havana harbor in 1898.", "a battleship of the fleet."]
    idx = R.build_index(texts=texts)
    assert idx.status()["bm25"]["passages"] == idx.size  # built with the index
    q = "what happened to the maine in havana?"
    by_mode = {m: R.retrieve(idx, q, k=3, mode=m) for m in R.RETRIEVAL_MODES}
    assert len(by_mode["bm25"]) == 1  # BM25 lists only passages that share a term with the question
    for mode, hits in by_mode.items():
        assert [h.rank for h in hits] == list(range(len(hits))) and all(h.retriever == mode for h in hits)
        # p(z|x) is softmax(d(z)^T q(x) / T) over the chosen passages, whatever chose them
        np.testing.assert_allclose([h.prior for h in hits], R.retrieval_prior([h.score for h in hits]), rtol=1e-6)
        assert "havana" in hits[0].passage.text
    dense, hybrid = by_mode["dense"], by_mode["hybrid"]
    assert [h.dense_rank for h in dense] == [1, 2, 3] and [h.fused_rank for h in hybrid] == [1, 2, 3]
    assert [(h.bm25_rank, h.bm25_score > 0) for h in dense] == [(1, True), (None, False), (None, False)]
    # RRF: the passage both lists put first leads; the rest follow the dense list (BM25 has no more)
    assert [h.passage.pid for h in hybrid] == [h.passage.pid for h in dense]
    weighted = R.retrieve(idx, "battleship", k=2, mode="hybrid", fusion="weighted", alpha=0.0)
    assert {h.passage.pid for h in weighted} == {3, 4} and weighted[0].bm25_score >= weighted[1].bm25_score


def test_retrieval_choices_are_checked(fake_registry):
    idx = R.build_index(texts=DOCS)
    with pytest.raises(InputError, match="Retrieval must be one of hybrid, dense, bm25"):
        R.retrieve(idx, "paris", mode="sparse")
    with pytest.raises(InputError, match="Fusion must be one of rrf, weighted"):
        R.retrieve(idx, "paris", fusion="max")
    with pytest.raises(InputError, match="alpha"):
        R.retrieve(idx, "paris", fusion="weighted", alpha=1.5)
    with pytest.raises(InputError, match="BM25 finds nothing"):
        R.retrieve(idx, "zebra quagga", mode="bm25")
    assert len(R.retrieve(idx, "zebra quagga", k=2, mode="hybrid")) == 2  # the dense list still answers


def test_bm25_cache_is_written_reloaded_and_rebuilt_when_damaged(fake_registry, tmp_path):
    passages = _passages(CORPUS)
    root = tmp_path / "bm25cache"
    first = sparse.bm25_index(passages, cache_dir=root)
    assert first.source == "built" and first.cache_path
    sparse.forget_memo()
    again = sparse.bm25_index(passages, cache_dir=root)
    assert again.source == "cache"
    np.testing.assert_allclose(again.scores("battleship harbor"), first.scores("battleship harbor"))
    entry = next(root.glob("bm25-*"))
    victim = next(p for p in entry.iterdir() if p.name.endswith(".npy"))
    victim.write_bytes(victim.read_bytes()[:-4] + b"\x00\x00\x00\x01")  # same size, other bytes
    sparse.forget_memo()
    rebuilt = sparse.bm25_index(passages, cache_dir=root)
    assert rebuilt.source == "built"
    cache.check_manifest(entry)  # valid again
    assert not list(root.glob(".tmp-*"))


def test_evaluation_reports_recall_of_every_retriever(fake_registry):
    texts = DOCS + ["the battleship maine exploded in havana harbor in 1898."]
    idx = R.build_index(texts=texts)
    qa = [{"question": "who explored the missouri river?", "answer": "lewis and clark", "pid": 2},
          {"question": "where did the maine explode?", "answer": "havana", "pid": 3}]
    rep = R.evaluate(idx, qa, k=2, modes=(), retrieval="bm25")
    assert rep.retrieval == "bm25" and set(rep.recall_by_retrieval) == set(R.RETRIEVAL_MODES)
    assert rep.recall == rep.recall_by_retrieval["bm25"] and rep.recall[1] == 1.0
    for rec in rep.records:
        assert rec["gold_rank"] == rec["gold_rank_bm25"] == 1
        assert {f"recall@5_{m}" for m in R.RETRIEVAL_MODES} <= set(rec)


def test_default_index_ready_only_when_it_loads_without_embedding(fake_registry, monkeypatch):
    from backends.rag import index as I

    small = tuple(R.Passage(i, "d", "", t) for i, t in enumerate(DOCS))
    monkeypatch.setattr(I, "default_passages", lambda: small)
    assert not R.default_index_ready()  # the shipped asset is another embedder's, and nothing is cached
    built = R.build_index()
    assert built.source == "built" and R.default_index_ready()
    R.forget_memo()
    assert R.default_index_ready()  # from the cache folder
    for p in (fake_registry.cache_dir / "rag" / built.key).iterdir():
        p.unlink()
    R.forget_memo()
    assert not R.default_index_ready()
