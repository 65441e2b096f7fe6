"""BitNet b1.58 at toy scale: the figures of the tab's closing note, measured in one run.

1. Post-training ternarisation of SmolLM2-135M: held-out SOTU perplexity before and after (no retraining).
2. FP and 1.58-bit twins trained from scratch at a few widths (same data, seed, steps): the perplexity ratio
   b1.58 / FP per width against the paper's (1.044 at 700M, 1.004 at 1.3B, 0.987 at 3B), and the trained FP
   twin ternarised afterwards as a contrast.
3. Storage and per-token arithmetic of SmolLM2-135M's linear layers.

    .venv/bin/python bench/bench_bitnet.py            # defaults of the tab (three widths, 150 steps)
    .venv/bin/python bench/bench_bitnet.py --quick    # one width, 40 steps, 4 blocks
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150, help="training steps per model (default 150)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--widths", default="32,48,64", help="hidden sizes, comma-separated (default 32,48,64)")
    ap.add_argument("--blocks", type=int, default=8, help="held-out blocks of 128 tokens for the PTQ part")
    ap.add_argument("--model", default="smollm2-135m-instruct", help="the trained model to ternarise")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--lr", type=float, default=None, help="learning rate of both twins (default: the trainer's)")
    ap.add_argument("--lr-ternary", type=float, default=None, help="the b1.58 twin's own rate (default: --lr)")
    ap.add_argument("--skip-ptq", action="store_true")
    ap.add_argument("--quick", action="store_true", help="one width (32), 40 steps, 4 blocks")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.widths, args.blocks = 40, "32", 4
    import torch

    from backends.models import configure
    from backends.surgery.bitnet import PAPER, TwinsConfig, ptq, twins

    if args.threads:
        torch.set_num_threads(args.threads)
    configure("tiny")
    print(f"torch threads {torch.get_num_threads()}, seed {args.seed}")
    if not args.skip_ptq:
        t0 = time.monotonic()
        res = ptq(args.model, max_blocks=args.blocks)
        print(f"\n== Post-training ternarisation: {res.model}, {res.tokens} held-out tokens "
              f"({time.monotonic() - t0:.0f} s)")
        base = res.rows[0].ppl
        for r in res.rows:
            print(f"  {r.variant:48s} loss {r.loss:7.3f}  ppl {r.ppl:12.2f}  x{r.ppl / base:10.1f}")
        print(f"  W~: zeros {res.stats.zeros:.3f}, +1 {res.stats.plus:.3f}, -1 {res.stats.minus:.3f}, "
              f"mean gamma {res.stats.gamma_mean:.5f} over {len(res.stats.layers)} matrices")
        st = res.storage
        print(f"\n== Storage of {res.model}'s linear weights ({st.n_weights:,} weights, {st.n_tensors} matrices)")
        for fmt, b in st.bytes.items():
            print(f"  {fmt:24s} {b / 2**20:9.2f} MB  {st.bits_per_weight[fmt]:6.3f} bits/weight  "
                  f"x{st.bytes['fp16'] / b:5.2f} vs fp16")
        print(f"  per token: fp {st.fp_mults:,} mults + {st.fp_adds:,} adds; ternary {st.ternary_addsub:,} add/sub "
              f"+ {st.ternary_mults:,} mults, {st.ternary_skipped:,} zero weights skipped")
        print(f"  arithmetic energy (7 nm estimates): fp16 {st.energy_pj['fp16'] / 1e6:.2f} uJ, ternary "
              f"{st.energy_pj['ternary'] / 1e6:.3f} uJ, ratio {st.energy_ratio:.1f}x (paper's count "
              f"{PAPER['energy_ratio_7nm']}x)")
    widths = [int(w) for w in args.widths.split(",") if w.strip()]
    print(f"\n== Twins from scratch: widths {widths}, {args.steps} steps each, batch 8 x 128 bytes, seed {args.seed}, "
          f"lr {args.lr or 'default'} (b1.58: {args.lr_ternary or args.lr or 'default'})")
    t0 = time.monotonic()
    cfg = TwinsConfig(lr=args.lr, lr_ternary=args.lr_ternary)
    last = twins(widths, steps=args.steps, seed=args.seed, config=cfg)
    for r in last.runs:
        z = "" if r.kind == "fp" else f", zeros {r.zeros:.3f}"
        print(f"  width {r.width:4d} {r.kind:6s} params {r.params:8,d}  held-out loss {r.eval_loss[0]:.3f} -> "
              f"{r.eval_loss[-1]:.3f}  ppl {r.final_ppl:7.3f}  {r.seconds:6.1f} s{z}")
    print("  width  params     FP ppl  b1.58 ppl  ratio   FP ternarised ppl (ratio)")
    for w in last.widths_done:
        print(f"  {w.width:5d} {w.params:8,d}  {w.fp_ppl:8.3f}  {w.b158_ppl:9.3f}  {w.gap:5.3f}   "
              f"{w.posthoc_ppl:8.3f} ({w.posthoc_gap:.3f})")
    print("  paper ratio b1.58/LLaMA: " + ", ".join(f"{int(k / 1e6)}M {b / f:.3f}"
                                                  for k, (f, b) in PAPER["ppl"].items()))
    print(f"  total {time.monotonic() - t0:.0f} s{'; stopped: ' + last.stopped if last.stopped else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
