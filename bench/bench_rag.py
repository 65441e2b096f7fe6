"""RAG benchmark, all figures from one run:

    .venv/bin/python bench/bench_rag.py [--profile cpu] [--scratch-passages N] [--queries 100] [--k 5]
                                        [--tokens 24] [--naive] [--only-token]

1. Default-corpus index: built from scratch (every passage embedded), from the shipped float16 asset
   (first start), and from the cache folder (later starts). ``--scratch-passages N`` embeds only the
   first N passages and extrapolates linearly (marked as such); the default embeds all of them.
2. Dense retrieval latency, median over ``--queries`` questions (query embedding plus search; search alone).
   ``bench/bench_retrieval.py`` compares dense, BM25 and hybrid retrieval.
3. RAG-Token with k passages: one batch with one KV cache (the k prompts prefilled together, then one
   step per token for all k rows) against k separate cached passes (each prompt prefilled alone into its
   own KV cache, then k one-row steps per token). Target (issue #15): batched at least 3x faster, or a
   measured explanation of the bound. Every ratio comes from this one run; each run is split into its
   prefill and its decoding, because only the decoding can batch: the prefill is the same compute either
   way. Timed twice: the answer as the model ends it, and exactly ``--tokens`` tokens with the end token
   ignored (sustained decoding). ``--naive`` adds k passes that re-run every prompt at every step without
   a cache (minutes on a CPU). All variants must choose the same tokens.
4. Answer latency end to end (retrieval + generation) per mode, median over a few questions.

``--only-token`` runs section 3 alone. ``--evaluate N`` then prints recall@1/5/10 over the whole built-in
QA set and exact match, F1 and "contains" per mode on its first N questions (``--only-evaluate`` skips
the timings).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends import decoding as D  # noqa: E402
from backends import models  # noqa: E402
from backends import rag as R  # noqa: E402


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


@dataclass
class Run:
    """One RAG-Token decoding: the tokens it chose and where its time went."""

    ids: list[int]
    prefill_s: float  # running the k prompts into KV caches
    decode_s: float  # choosing the tokens (every model step after the prompts, and the mixture)

    @property
    def total_s(self) -> float:
        return self.prefill_s + self.decode_s


def batched_token_decode(lm, prompts, log_prior, max_new_tokens, stops, padded: bool = False) -> Run:
    """What the app runs: the k prompts into one KV cache (R.prefill_passages: the shared prefix once, no
    padding; ``padded``: one left-padded batch instead), then R.decode_token, all k rows in one batch."""
    t0 = time.perf_counter()
    pre = D.prefill(lm, prompts) if padded else R.prefill_passages(lm, prompts)
    t1 = time.perf_counter()
    res = R.decode_token(lm, pre, log_prior, max_new_tokens, stop_ids=stops)
    return Run(res.ids, t1 - t0, time.perf_counter() - t1)


def separate_token_decode(lm, prompts, log_prior, max_new_tokens, stops, use_cache=True) -> Run:
    """The baseline: the same RAG-Token decoding with the k passages run one at a time, each prompt alone
    (no padding) in its own KV cache, then k one-row steps per token. The same steps as decode_token:
    after each chosen token every row is stepped, so that the end token can be scored."""
    import torch

    t0 = time.perf_counter()
    if use_cache:
        states = [D.prefill(lm, [p]) for p in prompts]
    else:  # the whole prompt and answer so far, again at every step
        rows = [list(p) for p in prompts]
        states = [_no_cache_logits(lm, r) for r in rows]
    t1 = time.perf_counter()
    seq: list[int] = []
    for n in range(max_new_tokens + 1):
        logits = torch.cat([s.logits for s in states]) if use_cache else torch.stack(states)
        y = int(R.token_mixture(log_prior, torch.log_softmax(logits, dim=-1)).argmax())
        if y in stops or n == max_new_tokens:
            break
        seq.append(y)
        if use_cache:
            for s in states:
                D.step(lm, s, torch.tensor([y]))
        else:
            for r in rows:
                r.append(y)
            states = [_no_cache_logits(lm, r) for r in rows]
    return Run(seq, t1 - t0, time.perf_counter() - t1)


def _no_cache_logits(lm, ids):
    import torch

    with torch.inference_mode():
        return lm.model(input_ids=torch.tensor([ids], device=lm.device), use_cache=False,
                        logits_to_keep=1).logits[0, -1].float().cpu()


def token_comparison(lm, idx, k: int, tokens: int, repeats: int = 3, naive: bool = False) -> None:
    """Section 3: batched RAG-Token against k separate cached passes, natural and forced length."""
    import torch

    q = "In which harbor was the battleship Maine destroyed, according to McKinley's 1898 message?"
    hits = R.retrieve(idx, q, k=k)
    prompts = [R.prompt_ids(lm, q, h.passage) for h in hits]
    log_prior = R.log_prior_of([h.prior for h in hits])
    stops = D.stop_token_ids(lm)
    torch.manual_seed(0)
    batched_token_decode(lm, prompts[:1], log_prior[:1] * 0, 2, stops)  # warm-up
    print(f"RAG-Token k={k}, prompts of {min(map(len, prompts))}-{max(map(len, prompts))} tokens "
          f"({sum(map(len, prompts))} in all, {k * max(map(len, prompts))} with the batch's padding), "
          f"median of {repeats}, {torch.get_num_threads()} threads:")
    for label, stop in (("as the model ends it", stops), (f"exactly {tokens} tokens (end token ignored)", set())):
        runs_b, runs_s = [], []
        for _ in range(repeats):  # interleaved, so that a busy moment hits both
            runs_b.append(batched_token_decode(lm, prompts, log_prior, tokens, stop))
            runs_s.append(separate_token_decode(lm, prompts, log_prior, tokens, stop))
        b, sp = _median_run(runs_b), _median_run(runs_s)
        same = all(r.ids == runs_b[0].ids for r in runs_b + runs_s)
        n = len(b.ids)
        print(f"  {label}: {n} tokens {lm.tokenizer.decode(b.ids)[:40]!r}, same tokens in every run: {same}")
        print(f"    one batch, one KV cache:      prefill {b.prefill_s:6.2f} s + decoding {b.decode_s:6.2f} s "
              f"= {b.total_s:6.2f} s")
        print(f"    k separate cached passes:     prefill {sp.prefill_s:6.2f} s + decoding {sp.decode_s:6.2f} s "
              f"= {sp.total_s:6.2f} s")
        print(f"    ratio separate / batched:     total {sp.total_s / b.total_s:.2f}x | decoding alone "
              f"{sp.decode_s / max(b.decode_s, 1e-9):.2f}x ({1e3 * b.decode_s / max(n, 1):.0f} vs "
              f"{1e3 * sp.decode_s / max(n, 1):.0f} ms per token) | prefill {sp.prefill_s / b.prefill_s:.2f}x")
        print(f"    bound: even with free batched decoding the total ratio is at most "
              f"{sp.total_s / b.prefill_s:.2f}x, since the k prompts' prefill is the same compute either way "
              f"({b.prefill_s / b.total_s:.0%} of the batched time)")
    padded = [_timed(lambda: D.prefill(lm, prompts))[1] for _ in range(repeats)]
    print(f"  prefill as one left-padded batch (the k prompts whole, padding included): "
          f"{statistics.median(padded):.2f} s, against {b.prefill_s:.2f} s with the shared prefix run once "
          f"and no padding (R.prefill_passages)")
    if naive:
        nv = separate_token_decode(lm, prompts, log_prior, tokens, set(), use_cache=False)
        b = _median_run(runs_b)
        print(f"  k separate passes without a cache, {len(nv.ids)} tokens: {nv.total_s:.2f} s "
              f"({nv.total_s / b.total_s:.2f}x the batched time) | same tokens: {nv.ids == b.ids}")


class PackedLinear:
    """A float32 ``nn.Linear`` with its weight prepacked once for oneDNN (an experiment, ``--pack-float32``).

    MKL's sgemm repacks a float32 weight on every call with more than one input row, so a batched decoding
    step pays for the int8 model's float32 MLP down-projections (kept out of int8 for accuracy, see
    backends/quantize.py) several times over. Prepacking removes that; results agree within ~2e-6.
    """

    @staticmethod
    def patch(model, rows_hint: int = 5) -> int:
        import torch

        class Packed(torch.nn.Module):
            def __init__(self, lin):
                super().__init__()
                self.out_features = lin.out_features
                self.w = torch.ops.mkldnn._reorder_linear_weight(lin.weight.detach(), rows_hint)
                self.b = None if lin.bias is None else lin.bias.detach()

            def forward(self, x):
                y = torch.ops.mkldnn._linear_pointwise(x.reshape(-1, x.shape[-1]).contiguous(), self.w, self.b,
                                                       "none", [], "")
                return y.reshape(*x.shape[:-1], self.out_features)

        n = 0
        for mod in list(model.modules()):
            for name, child in list(mod.named_children()):
                if type(child) is torch.nn.Linear and child.weight.dtype == torch.float32:
                    setattr(mod, name, Packed(child))
                    n += 1
        return n


def _median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.total_s)[len(runs) // 2]


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
    ap.add_argument("--repeats", type=int, default=3, help="runs of each RAG-Token variant (median reported)")
    ap.add_argument("--naive", action="store_true", help="also time k passes without a KV cache (slow)")
    ap.add_argument("--only-token", action="store_true", help="run the RAG-Token comparison (section 3) alone")
    ap.add_argument("--pack-float32", action="store_true", help="then repeat section 3 with the model's float32 "
                    "linear layers prepacked for oneDNN (an experiment: it changes the loaded model)")
    args = ap.parse_args()
    if args.only_evaluate:
        models.configure(args.profile)
        evaluate(R.build_index(), args.evaluate or len(R.load_qa()), args.k, args.tokens)
        return
    reg = models.configure(args.profile)
    emb = reg.get(slot="embedder")
    lm = reg.get(slot="reader")  # the model R.answer uses
    if args.only_token:
        token_comparison(lm, R.build_index(), args.k, args.tokens, args.repeats, args.naive)
        if args.pack_float32:
            packed_comparison(lm, R.build_index(), args)
        return
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
    R.retrieve(idx, questions[0], k=args.k, mode="dense")  # warm-up
    full, search, search_hnsw = [], [], []
    for q in questions:  # dense retrieval; bench/bench_retrieval.py compares the three modes
        _, t = _timed(lambda q=q: R.retrieve(idx, q, k=args.k, mode="dense"))
        full.append(t)
        vec = R.embed_query(idx, q)
        _, t = _timed(lambda vec=vec: idx.faiss_index.search(vec, args.k))
        search.append(t)
        _, t = _timed(lambda vec=vec: hn.faiss_index.search(vec, args.k))
        search_hnsw.append(t)
    print(f"dense retrieval, median over {len(questions)} queries (k={args.k}): {1e3 * statistics.median(full):.1f} ms "
          f"end to end (query embedding + search); exact search alone {1e3 * statistics.median(search):.2f} ms, "
          f"HNSW search {1e3 * statistics.median(search_hnsw):.2f} ms")

    # 3. RAG-Token batched against separate passes.
    token_comparison(lm, idx, args.k, args.tokens, args.repeats, args.naive)

    # 4. Answer latency end to end.
    for mode in R.MODES:
        times = []
        for qq in [e["question"] for e in qa[:3]]:
            a, t = _timed(lambda qq=qq, mode=mode: R.answer(idx, qq, mode=mode, k=args.k, max_new_tokens=args.tokens))
            times.append(t)
        print(f"answer end to end, {R.MODE_LABELS[mode]:>14}, k={args.k}: median {statistics.median(times):.2f} s "
              f"over 3 questions (last: {a.text[:50]!r})")
    if args.pack_float32:  # last: it changes the loaded model
        packed_comparison(lm, idx, args)
    if args.evaluate:
        evaluate(idx, args.evaluate, args.k, args.tokens)


def packed_comparison(lm, idx, args) -> None:
    n = PackedLinear.patch(lm.model, args.k)
    print(f"The same with the {n} float32 linear layers of {lm.name} prepacked for oneDNN (--pack-float32):")
    token_comparison(lm, idx, args.k, args.tokens, args.repeats)


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
