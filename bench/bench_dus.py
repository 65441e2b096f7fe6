"""Depth up-scaling (SOLAR) benchmark: the step-0 cost on a packaged model, then the note's best experiment.

    .venv/bin/python bench/bench_dus.py [--profile cpu] [--model smollm2-135m-instruct] [--m 7] [--blocks 16]
                                        [--layers 8] [--base-steps 300] [--steps 150] [--seed 0] [--quick]
                                        [--json out.json]

1. Step 0 (evaluation only): held-out SOTU perplexity of the packaged model, of its DUS copy (m, 2(n - m) layers)
   and of the naive 2n stack, untrained; the seam similarity of the base.
2. The experiment (backends.surgery.dus.experiment): a byte-level base of --layers layers from scratch pretrained
   --base-steps steps, then DUS (m = n/4), the naive 2n stack, the base itself and a same-depth model from
   scratch, each --steps more steps on the same batches; held-out perplexity at the start and the end of each run,
   and the ratios against the base continued on the same tokens (the control the paper does not report).
--quick: 4 layers, 100 + 40 steps, 4 held-out blocks at step 0.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends import models  # noqa: E402
from backends.surgery import dus as D  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--model", default=D.DEFAULT_MODEL)
    ap.add_argument("--m", type=int, default=7, help="m for the packaged model (SmolLM2: 30 layers, 7 gives 46)")
    ap.add_argument("--blocks", type=int, default=16, help="held-out blocks of 128 tokens at step 0")
    ap.add_argument("--layers", type=int, default=8, help="layers of the scratch base")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--base-steps", type=int, default=300)
    ap.add_argument("--steps", type=int, default=150, help="continued steps per run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-step0", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.layers, args.base_steps, args.steps, args.blocks = 4, 100, 40, 4
    out: dict = {"args": vars(args) | {"json": str(args.json)}}
    if not args.skip_step0:
        models.configure(args.profile)
        lm = models.registry().get(args.model)  # loaded before timing
        r = D.step0(lm, args.m, blocks=args.blocks)
        p = r.plan
        print(f"Step 0 on {r.model} ({r.tokens} held-out tokens, {r.seconds:.1f} s): {p.n} layers "
              f"{p.base_params / 1e6:.1f}M -> {p.s} layers {p.params / 1e6:.1f}M (m = {p.m})")
        print(f"  perplexity: base {r.base_ppl:.3f}  DUS {r.dus_ppl:.3f} ({r.dus_ppl / r.base_ppl:.3f}x)  "
              f"naive {2 * p.n} layers {r.naive_ppl:.3f} ({r.naive_ppl / r.base_ppl:.3f}x)")
        print(f"  seam cosine: DUS (L{p.n - p.m} vs L{p.m}) {r.similarity.seam(p.m):.3f}  "
              f"naive (L{p.n} vs emb) {r.similarity.seam(0):.3f}")
        out["step0"] = {k: v for k, v in r.to_dict().items() if k != "similarity"}
    cfg = D.ExperimentConfig(layers=args.layers, hidden=args.hidden, base_steps=args.base_steps, steps=args.steps,
                             eval_every=max(1, args.steps // 10), seq_len=64, eval_blocks=16, seed=args.seed)
    t0 = time.perf_counter()
    e = list(D.experiment(cfg))[-1]
    print(f"\nExperiment ({time.perf_counter() - t0:.0f} s, seed {args.seed}): base {cfg.layers} layers x "
          f"{cfg.hidden}, {cfg.base_steps} pretraining steps, then {cfg.steps} steps per run, batch "
          f"{cfg.batch_size} x {cfg.seq_len} bytes; {e.source}")
    print(f"  base pretraining: ppl {e.base.eval_ppl[0]:.2f} -> {e.base.eval_ppl[-1]:.3f} ({e.base.seconds:.0f} s)")
    fin = e.final()
    for c in e.curves:
        print(f"  {c.label:28s} {c.params / 1e6:5.2f}M  ppl step 0 {c.eval_ppl[0]:8.3f}  end {c.eval_ppl[-1]:.3f}"
              f"  ({c.eval_ppl[-1] / fin['base']:.3f}x base continued)  {c.seconds:.0f} s")
    print(f"  seam cosine of the trained base: DUS {e.similarity.seam(e.plan.m):.3f}, naive {e.similarity.seam(0):.3f}")
    out["experiment"] = {k: v for k, v in e.to_dict().items() if k != "similarity"}
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
