"""RAG benchmark, all figures from one run:

    .venv/bin/python bench/bench_rag.py [--scratch-passages N] [--queries 100] [--k 5] [--tokens 24]

1. Default-corpus index: built from scratch (every passage embedded), from the shipped float16 asset
   (first start), and from the cache folder (later starts). ``--scratch-passages N`` embeds only the
   first N passages and extrapolates linearly (marked as such); the default embeds all of them.
2. Retrieval latency, median over ``--queries`` questions (query embedding plus search; search alone).
3. RAG-Token with k passages: one batch with one KV cache against k separate passes, each with its own
   KV cache (batch size 1), and against the naive loop that re-runs every prompt at every step without
   a cache. Target (issue #8): batched at least 3x faster. All three must choose the same tokens.
4. Answer latency end to end (retrieval + generation) per mode, median over a few questions.

``--evaluate N`` then prints recall@1/5/10 over the whole built-in QA set and exact match, F1 and
"contains" per mode on its first N questions (``--only-evaluate`` skips the timings).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends import models  # noqa: E402
from backends import rag as R  # noqa: E402


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def separate_token_decode(lm, prompts, log_prior, max_new_tokens, use_cache=True):
    """RAG-Token greedy decoding with the k passages run one at a time (the baseline)."""
    import torch

    stops = R._stop_ids(lm)
    states = []
    with torch.inference_mode():
        for p in prompts:
            ids = torch.tensor([p])
            out = lm.model(input_ids=ids, use_cache=use_cache, logits_to_keep=1)
            states.append([out.past_key_values if use_cache else None, list(p),
                           torch.log_softmax(out.logits[0, -1].float(), -1)])
        seq = []
        for _ in range(max_new_tokens):
            lp = np.stack([s[2].numpy() for s in states]).astype(np.float64)
            y = int(np.argmax(R.token_mixture(log_prior, lp)))
            if y in stops:
                break
            seq.append(y)
            for s in states:
                s[1].append(y)
                if use_cache:
                    out = lm.model(input_ids=torch.tensor([[y]]), past_key_values=s[0], use_cache=True)
                else:  # the whole prompt and answer so far, again
                    out = lm.model(input_ids=torch.tensor([s[1]]), use_cache=False, logits_to_keep=1)
                s[2] = torch.log_softmax(out.logits[0, -1].float(), -1)
    return seq


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scratch-passages", type=int, default=0, help="embed only this many passages from scratch "
                    "and extrapolate (0: all, several minutes on two cores)")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=24)
    ap.add_argument("--evaluate", type=int, default=0, metavar="N",
                    help="then evaluate every mode on the first N built-in questions (seconds each); 0: skip")
    ap.add_argument("--only-evaluate", action="store_true", help="skip the timings, evaluate only")
    ap.add_argument("--profile", default="cpu", help="model profile: cpu (default models) or tiny")
    args = ap.parse_args()
    if args.only_evaluate:
        models.configure(args.profile)
        evaluate(R.build_index(), args.evaluate or len(R.load_qa()), args.k, args.tokens)
        return
    reg = models.configure(args.profile)
    emb = reg.get(slot="embedder")
    lm = reg.get(slot="chat")
    passages = R.default_passages()
    print(f"Default corpus: {len(passages):,} passages of ~{R.PASSAGE_WORDS} words; embedder {R.embedder_id(emb)}; "
          f"generator {lm.name}")

    # 1. Index build: scratch, asset, cache.
    n = args.scratch_passages or len(passages)
    texts = [p.embed_text() for p in passages[:n]]
    _, t = _timed(lambda: R.embed_texts(emb, texts))
    if n < len(passages):
        print(f"index from scratch: {n:,} passages embedded in {t:.1f} s -> {t * len(passages) / n:.0f} s for all "
              f"{len(passages):,} (extrapolated)")
    else:
        _, tf = _timed(lambda: R.make_faiss(R.embed_texts(emb, texts[:1]).repeat(len(passages), 0)))
        print(f"index from scratch: {len(passages):,} passages embedded in {t:.1f} s ({len(passages) / t:.0f} "
              f"passages/s) + flat FAISS index {tf:.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        R.forget_memo()
        idx, t_asset = _timed(lambda: R.build_index(cache_dir=tmp))
        print(f"index from the shipped asset (first start): {t_asset:.2f} s (source: {idx.source})")
        R.forget_memo()
        idx, t_cache = _timed(lambda: R.build_index(cache_dir=tmp))
        print(f"index from the cache (later starts): {t_cache:.2f} s (source: {idx.source})")
        R.forget_memo()
        hn, t_hnsw = _timed(lambda: R.build_index(cache_dir=tmp, kind="hnsw"))
        print(f"HNSW index (M=32) over the cached embeddings: built in {t_hnsw:.1f} s")

    # 2. Retrieval latency.
    qa = R.load_qa()
    questions = [qa[i % len(qa)]["question"] for i in range(args.queries)]
    R.retrieve(idx, questions[0], k=args.k)  # warm-up
    full, search, search_hnsw = [], [], []
    for q in questions:
        _, t = _timed(lambda: R.retrieve(idx, q, k=args.k))
        full.append(t)
        vec = R.embed_query(idx, q)
        _, t = _timed(lambda: idx.faiss_index.search(vec, args.k))
        search.append(t)
        _, t = _timed(lambda: hn.faiss_index.search(vec, args.k))
        search_hnsw.append(t)
    print(f"retrieval, median over {len(questions)} queries (k={args.k}): {1e3 * statistics.median(full):.1f} ms "
          f"end to end (query embedding + search); exact search alone {1e3 * statistics.median(search):.2f} ms, "
          f"HNSW search {1e3 * statistics.median(search_hnsw):.2f} ms")

    # 3. RAG-Token batched against separate passes.
    q = "In which harbor was the battleship Maine destroyed, according to McKinley's 1898 message?"
    hits = R.retrieve(idx, q, k=args.k)
    prompts = [R.prompt_ids(lm, q, h.passage) for h in hits]
    log_prior = np.log([h.prior for h in hits])
    R.decode_token(lm, R._prefill(lm, prompts[:1]), log_prior[:1] * 0, 2)  # warm-up
    t_batch, t_sep, t_naive = [], [], []
    for _ in range(3):
        (ids, *_), t = _timed(lambda: R.decode_token(lm, R._prefill(lm, prompts), log_prior, args.tokens))
        t_batch.append(t)
        sep, t = _timed(lambda: separate_token_decode(lm, prompts, log_prior, args.tokens))
        t_sep.append(t)
    naive, t = _timed(lambda: separate_token_decode(lm, prompts, log_prior, args.tokens, use_cache=False))
    t_naive.append(t)
    tb, ts, tn = statistics.median(t_batch), statistics.median(t_sep), statistics.median(t_naive)
    print(f"RAG-Token k={args.k}, {len(ids)} tokens ({lm.tokenizer.decode(ids)!r}), prompts of "
          f"{min(map(len, prompts))}-{max(map(len, prompts))} tokens, median of 3:")
    print(f"  one batch, one KV cache {tb:.2f} s | k separate passes with KV caches {ts:.2f} s ({ts / tb:.2f}x) | "
          f"k separate passes without a cache {tn:.2f} s ({tn / tb:.2f}x) | same tokens: {ids == sep == naive}")

    # 4. Answer latency end to end.
    for mode in R.MODES:
        times = []
        for qq in [e["question"] for e in qa[:3]]:
            a, t = _timed(lambda: R.answer(idx, qq, mode=mode, k=args.k, max_new_tokens=args.tokens))
            times.append(t)
        print(f"answer end to end, {R.MODE_LABELS[mode]:>14}, k={args.k}: median {statistics.median(times):.2f} s "
              f"over 3 questions (last: {a.text[:50]!r})")
    if args.evaluate:
        evaluate(idx, args.evaluate, args.k, args.tokens)


def evaluate(idx, n, k, tokens):
    """Recall@1/5/10 on the whole built-in set, then EM/F1/contains per mode on the first n questions."""
    qa = R.load_qa()
    rep = R.evaluate(idx, qa, k=k, modes=())
    print(f"retrieval on all {rep.n} built-in questions: " + ", ".join(f"recall@{r} {rep.recall[r]:.3f}"
                                                                       for r in R.RECALL_AT))
    records = []
    t0 = time.perf_counter()
    for i, rec in enumerate(R.evaluate_iter(idx, qa[:n], k, max_new_tokens=tokens)):
        records.append(rec)
        print(f"  [{i + 1}/{n}] {rec['question'][:60]!r} gold {rec['answer']!r}: "
              + " | ".join(f"{m} {rec[f'{m}_answer'][:30]!r}" for m in R.MODES), flush=True)
    rep = R.summarize(records, k, R.MODES, time.perf_counter() - t0)
    print(f"generation on the first {rep.n} questions, k={k}, {tokens} tokens, {rep.seconds:.0f} s "
          f"(recall@5 on these {rep.recall[5]:.3f}):")
    for m in rep.modes:
        print(f"  {R.MODE_LABELS[m]:>14}: EM {rep.exact_match[m]:.3f}  F1 {rep.f1[m]:.3f}  "
              f"contains {rep.contains[m]:.3f}")


if __name__ == "__main__":
    main()
