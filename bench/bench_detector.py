"""Detector benchmark: single-model speed-up, batching speed-up, and the built-in benchmark's figures.

    .venv/bin/python bench/bench_detector.py [--texts 64]

1. Single-model mode (one forward pass) against the same model run as observer and performer in two
   separate passes (a second registry entry over the same weights), on the same texts; the scores of
   both ways must agree. Target: at least 1.8x.
2. Batched scoring (batch 16) against one text at a time: tokens per second of each, and the ratio.
3. AUROC and TPR at low FPR for Binoculars and perplexity on the whole built-in benchmark.
All in one process, so every ratio compares runs on the same machine at the same time.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backends import detector as D  # noqa: E402
from backends import models  # noqa: E402


def timed(fn, repeat: int = 2) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=64, help="texts for the speed comparisons")
    ap.add_argument("--profile", default="cpu", help="model profile: cpu (default models) or tiny")
    args = ap.parse_args()
    reg = models.configure(args.profile)
    items = D.load_benchmark()
    texts = [it.text for it in items][: args.texts]
    name = reg.slots["observer"]
    m = reg.get(name)
    reg.add("observer-copy", str(reg.cache_entry(reg.spec(name))))  # same weights, separate registry entry
    reg.get("observer-copy")
    D.binoculars(texts[:4], name, name)  # warm-up

    t_one, single = timed(lambda: D.binoculars(texts, name, name))
    t_two, double = timed(lambda: D.binoculars(texts, name, "observer-copy"))
    worst = max(abs(a.score - b.score) for a, b in zip(single, double))
    tokens = sum(r.n_tokens for r in single)
    print(f"[1] {len(texts)} texts, {tokens} tokens, model {name} ({m.n_params / 1e6:.0f}M params)")
    print(f"    single-model (one pass)  {t_one:6.2f} s  {tokens / t_one:7.0f} tok/s")
    print(f"    two separate passes      {t_two:6.2f} s  {tokens / t_two:7.0f} tok/s")
    print(f"    speed-up {t_two / t_one:.2f}x (target >= 1.8x); max |score difference| {worst:.2e}")

    t_b, _ = timed(lambda: D.binoculars(texts, name, name, batch_size=16), repeat=1)
    t_1, _ = timed(lambda: D.binoculars(texts, name, name, batch_size=1), repeat=1)
    print(f"[2] batched (16)  {tokens / t_b:7.0f} tok/s | one at a time {tokens / t_1:7.0f} tok/s | "
          f"batching speed-up {t_1 / t_b:.2f}x")

    ev = D.evaluate(items, name, name)
    print(f"[3] built-in benchmark: {ev.binoculars.n_human} human, {ev.binoculars.n_machine} machine texts, "
          f"{ev.tokens} tokens in {ev.seconds:.1f} s ({ev.tokens / ev.seconds:.0f} tok/s)")
    for label, cal in (("Binoculars", ev.binoculars), ("Perplexity", ev.perplexity)):
        tprs = ", ".join(f"TPR@{f:.2%} FPR {v:.1%}" for f, v in sorted(cal.tpr_at_fpr.items()))
        print(f"    {label:10s} AUROC {cal.auroc:.3f} | {tprs} | threshold@1% FPR {cal.threshold:.4f}")
    for gen, v in ev.by_generator.items():
        print(f"    machine texts by {gen:22s} n={v['n']:3d} Binoculars AUROC {v['binoculars_auroc']:.3f}, "
              f"perplexity AUROC {v['perplexity_auroc']:.3f}")


if __name__ == "__main__":
    main()
