"""Retrieval benchmark: dense, BM25 and hybrid retrieval on the default corpus, all figures from one run.

    .venv/bin/python bench/bench_retrieval.py [--profile cpu] [--queries 100] [--k 5]
                                              [--embedder NAME [--embeddings FILE.npy | --subset N] [--sample N]]

1. BM25 index over the default corpus's passages: built from scratch, then loaded from its cache folder.
   Target (issue #16): build under 10 s.
2. Retrieval latency per mode, median over ``--queries`` built-in questions, query embedding included
   (what :func:`backends.rag.retrieve` costs a request). Target: under 30 ms in every mode.
3. Recall@1/5/10 of the passage holding each answer, on the whole built-in QA set, for dense, BM25 and
   hybrid (reciprocal-rank fusion), and for weighted fusion at a few dense weights alpha. The built-in
   questions were written while reading their passages and share their names and numbers; the same figures
   follow for 22 of them reworded to avoid those words (``assets/rag/qa-reworded.jsonl``, same answer passages).
4. ``--embedder``: another embedder of the registry (e.g. all-mpnet-base-v2): the seconds to embed
   ``--sample`` passages, extrapolated to the corpus, and the recall of every mode with it against the
   profile's embedder: on the whole corpus with ``--embeddings`` (the corpus embedded by it, rows in
   passage order), else on a random sample of ``--subset`` passages that holds every answer passage
   (embedding the whole corpus with all-mpnet-base-v2 takes about 90 minutes on two cores).
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends import models  # noqa: E402
from backends import rag as R  # noqa: E402
from backends.rag import sparse  # noqa: E402

REWORDED = R.QA_REWORDED_PATH


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def recall_table(index: R.Index, qa: list[dict], label: str) -> None:
    rep = R.evaluate(index, qa, modes=())
    for mode, recall in rep.recall_by_retrieval.items():
        name = f"{label} {R.RETRIEVAL_LABELS[mode]}" + (" (RRF)" if mode == "hybrid" else "")
        print(f"  {name:<48}" + "  ".join(f"recall@{n} {recall[n]:.3f}" for n in R.RECALL_AT))
    for alpha in (0.3, 0.5, 0.7):
        recall = R.evaluate(index, qa, modes=(), fusion="weighted", alpha=alpha).recall
        name = f"{label} hybrid (weighted, alpha {alpha})"
        print(f"  {name:<48}" + "  ".join(f"recall@{n} {recall[n]:.3f}" for n in R.RECALL_AT))


def sub_corpus(index: R.Index, qa: list[dict], n: int, seed: int = 0) -> tuple[np.ndarray, list[dict]]:
    """Rows of a random sample of ``n`` passages that holds every question's answer passage, and the
    questions with their answer passage renumbered into the sample."""
    gold = sorted({q["pid"] for q in qa})
    rest = np.setdiff1d(np.arange(index.size), gold)
    rows = np.sort(np.concatenate([gold, np.random.default_rng(seed).choice(rest, n - len(gold), replace=False)]))
    where = {int(pid): i for i, pid in enumerate(rows)}
    return rows, [{**q, "pid": where[q["pid"]]} for q in qa]


def index_over(index: R.Index, rows: np.ndarray, vectors: np.ndarray, emb_name: str) -> R.Index:
    passages = tuple(dataclasses.replace(index.passages[int(r)], pid=i) for i, r in enumerate(rows))
    return R.Index("sample", passages, vectors, R.make_faiss(vectors), "bench", emb_name, emb_name)


def other_embedder(args, index: R.Index, qa: list[dict]) -> None:
    """Another embedder against the profile's: embedding time, and recall on the whole corpus (with
    ``--embeddings``) or on a sample of it that holds every answer passage (``--subset``)."""
    emb = models.registry().get(args.embedder)
    passages = R.default_passages()
    texts = [p.embed_text() for p in passages[5000:5000 + args.sample]]
    R.embed_texts(emb, texts[:8])  # warm-up
    _, t = _timed(lambda: R.embed_texts(emb, texts))
    print(f"{args.embedder}: {len(texts)} passages embedded in {t:.1f} s -> {t * len(passages) / len(texts) / 60:.0f} "
          f"min for all {len(passages):,} (extrapolated; the profile's embedder ships its embeddings)")
    if args.embeddings:
        vectors = R.normalise(np.load(args.embeddings).astype(np.float32))
        other = index_over(index, np.arange(index.size), vectors, args.embedder)
        print(f"Recall on all {len(qa)} built-in questions, whole corpus, {args.embedder}:")
        recall_table(other, qa, f"{args.embedder}:")
        return
    rows, sub_qa = sub_corpus(index, qa, args.subset)
    saved = Path(args.keep) if args.keep else None
    if saved and saved.is_file() and np.load(saved).shape[0] == len(rows):
        vectors, t = np.load(saved), float("nan")  # embedded by an earlier run with the same sample
    else:
        vectors, t = _timed(lambda: R.embed_texts(emb, [passages[int(r)].embed_text() for r in rows]))
        if saved:
            np.save(saved, vectors)
    where = {int(r): i for i, r in enumerate(rows)}
    sub_reworded = [{**q, "pid": where[q["pid"]]} for q in R.load_qa(REWORDED)]
    mine = index_over(index, rows, index.embeddings[rows], index.embedder_name)
    other = index_over(index, rows, vectors, args.embedder)
    for questions, name in ((sub_qa, f"all {len(qa)} built-in"), (sub_reworded, f"the {len(sub_reworded)} reworded")):
        print(f"Recall on {name} questions over a sample of {len(rows):,} passages holding every answer passage "
              f"(seed 0; {args.embedder} embedded it in {t:.0f} s):")
        recall_table(mine, questions, f"{index.embedder_name}:")
        recall_table(other, questions, f"{args.embedder}:")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="cpu", help="model profile: cpu (default models) or tiny")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--embedder", default="", help="another embedder to compare with (e.g. all-mpnet-base-v2)")
    ap.add_argument("--embeddings", default="", help="the whole corpus embedded by it (.npy, passage order)")
    ap.add_argument("--subset", type=int, default=3000, help="else compare on a sample of this many passages")
    ap.add_argument("--sample", type=int, default=128, help="passages embedded to time the other embedder")
    ap.add_argument("--keep", default="", help="save the sample's embeddings here (.npy) and reuse them next time")
    args = ap.parse_args()
    models.configure(args.profile)
    passages = R.default_passages()
    index = R.build_index()
    print(f"Default corpus: {len(passages):,} passages; dense index {index.embedder} ({index.source})")

    # 1. BM25 build and cache.
    fresh, t_build = _timed(lambda: sparse.bm25_index(passages, use_cache=False))
    with tempfile.TemporaryDirectory() as tmp:
        sparse.forget_memo()
        _, t_first = _timed(lambda: sparse.bm25_index(passages, cache_dir=tmp))
        sparse.forget_memo()
        cached, t_cache = _timed(lambda: sparse.bm25_index(passages, cache_dir=tmp))
    print(f"BM25 index: {fresh.vocabulary:,} terms; built from scratch in {t_build:.2f} s (target < 10 s), "
          f"built and cached {t_first:.2f} s, loaded from the cache {t_cache:.2f} s ({cached.source})")

    # 2. Latency per mode.
    qa = R.load_qa()
    questions = [qa[i % len(qa)]["question"] for i in range(args.queries)]
    for mode, fusion in (("dense", "rrf"), ("bm25", "rrf"), ("hybrid", "rrf"), ("hybrid", "weighted")):
        R.retrieve(index, questions[0], k=args.k, mode=mode, fusion=fusion)  # warm-up
        times = [_timed(lambda q=q, m=mode, f=fusion: R.retrieve(index, q, k=args.k, mode=m, fusion=f))[1]
                 for q in questions]
        label = f"{mode}{' (' + fusion + ')' if mode == 'hybrid' else ''}"
        print(f"retrieval {label:<18} k={args.k}: median {1e3 * statistics.median(times):5.1f} ms, "
              f"p90 {1e3 * np.percentile(times, 90):5.1f} ms over {len(questions)} queries (target < 30 ms)")
    vec = R.embed_query(index, questions[0])
    _, t_embed = _timed(lambda: [R.embed_query(index, q) for q in questions[:20]])
    _, t_bm25 = _timed(lambda: [index.bm25.scores(q) for q in questions[:20]])
    _, t_faiss = _timed(lambda: [index.faiss_index.search(vec, 100) for _ in range(20)])
    print(f"  parts: query embedding {1e3 * t_embed / 20:.1f} ms, BM25 scores {1e3 * t_bm25 / 20:.1f} ms, "
          f"FAISS top-100 {1e3 * t_faiss / 20:.2f} ms")

    # 3. Recall per mode, on the built-in set and on its reworded sample.
    print(f"Recall on all {len(qa)} built-in questions (k for generation does not matter here):")
    recall_table(index, qa, "")
    reworded = R.load_qa(REWORDED)
    print(f"Recall on {len(reworded)} of them reworded to avoid their passages' distinctive words ({REWORDED.name}):")
    recall_table(index, reworded, "")
    if args.embedder:
        other_embedder(args, index, qa)


if __name__ == "__main__":
    main()
