"""Sparse upcycling benchmark: the paper's core comparison at toy scale, and the surgery on a packaged model.

    .venv/bin/python bench/bench_upcycling.py [--steps 1000] [--extra 500] [--experts 8] [--top-k 2]
                                              [--router top_k] [--layers 2] [--hidden 64] [--seed 0]
                                              [--quick] [--no-step0] [--json out.json]

1. A dense byte-level LLaMA (scratch model, ``--layers`` x ``--hidden``) trains ``--steps`` steps on SOTU
   (budget B). The same extra compute then goes three ways: dense continued; upcycled (every other MLP ->
   ``--experts`` copies, top-k router) for ``--extra`` steps; an MoE with fresh experts from scratch for B plus
   the extra. FLOPs = 6 x active matrix weights x tokens. Printed: held-out loss (nats per byte) of each arm
   at the end, with the differences measured in this one run.
2. (unless --no-step0) SmolLM2-135M-Instruct upcycled to 4 experts with no training: held-out loss of the
   dense model, top-2, expert choice (unnormalised, as the paper for language) and normalised, with the share
   of tokens expert choice drops.

The paper (T5 Base/Large/XL, 32 experts): with about 50 % extra of the dense pretraining cost, upcycled
models clearly beat dense continuation, and MoEs from scratch need about 120 % of the dense budget to catch up.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends.surgery import upcycling as U  # noqa: E402
from backends.training import ScratchConfig  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000, help="dense budget B in steps")
    ap.add_argument("--extra", type=int, default=500, help="steps of the upcycled model (the extra budget)")
    ap.add_argument("--experts", type=int, default=8)
    ap.add_argument("--top-k", type=int, default=2)
    ap.add_argument("--router", default="top_k", choices=U.ROUTERS)
    ap.add_argument("--capacity", type=float, default=2.0)
    ap.add_argument("--layers", type=int, default=2, help="decoder layers of the dense scratch model")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="60 + 30 steps: a smoke run")
    ap.add_argument("--no-step0", action="store_true", help="skip the packaged-model view")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.extra = 60, 30
    cfg = ScratchConfig(layers=args.layers, hidden=args.hidden, heads=4)
    t0 = time.perf_counter()
    cmp = U.compare(cfg, budget_steps=args.steps, extra_steps=args.extra, n_experts=args.experts, top_k=args.top_k,
                    router=args.router, capacity=args.capacity, batch_size=args.batch, lr=args.lr, seed=args.seed)
    d, m = cmp.counts["dense"], cmp.counts["moe"]
    print(f"Dense {cfg.layers}x{cfg.hidden}: {d['total']:,} parameters, {d['matmul_active']:,} matmul weights/token. "
          f"MoE ({args.experts} experts, {args.router}, layers {m['moe_layers']}): {m['total']:,} parameters, "
          f"{m['matmul_active']:,} active matmul weights/token ({m['matmul_active'] / d['matmul_active']:.2f}x)")
    print(f"Steps per arm (batch {args.batch} x {cfg.seq_len} bytes, equal extra FLOPs): {cmp.settings['steps']}")
    print(f"{'arm':20s} {'steps':>6s} {'FLOPs':>9s} {'held-out loss':>14s} {'seconds':>8s}")
    for c in cmp.curves.values():
        print(f"{c.label:20s} {c.steps[-1] if c.steps else 0:6d} {c.eval_flops[-1]:9.3g} "
              f"{c.final_loss:14.4f} {c.seconds:8.1f}")
    v = cmp.verdict()
    print(f"\nupcycled at step 0: {v.get('upcycled_step0_loss', float('nan')):.4f} (dense at B "
          f"{v.get('final_dense', float('nan')):.4f}; initial drop {v.get('initial_drop', float('nan')):+.4f})")
    print(f"gain of upcycling vs dense continued: {v.get('gain_vs_dense_continued', float('nan')):+.4f} nats/byte; "
          f"vs MoE from scratch: {v.get('gain_vs_moe_scratch', float('nan')):+.4f} (positive: upcycled better)")
    for key in ("upcycled_init", "upcycled", "moe_scratch"):
        for r in cmp.routing.get(key, []):
            print(f"  routing {key:14s} layer {r.layer}: load {r.load} (max/mean {r.max_over_mean:.2f}), "
                  f"dropped {r.dropped:.1%}")
    print(f"comparison: {cmp.seconds:.0f} s")
    out = {"comparison": cmp.to_dict()}
    if not args.no_step0:
        from backends import models

        models.configure("tiny")
        view = U.step0_view("smollm2-135m-instruct", n_experts=4, top_k=2, seed=args.seed)
        print(f"\n{view.model}, {view.n_tokens} held-out tokens, {view.settings['layers'].__len__()} MLPs upcycled "
              f"to 4 experts, no training:")
        for v0 in view.variants:
            drop = (sum(r.dropped for r in v0.routing) / len(v0.routing)) if v0.routing else 0.0
            print(f"  {v0.label:28s} held-out loss {v0.heldout_loss:.4f}  active params {v0.counts['active']:,}  "
                  f"dropped tokens {drop:.1%}")
        print(f"step-0 view: {view.seconds:.0f} s")
        out["step0"] = view.to_dict()
    print(f"total {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
