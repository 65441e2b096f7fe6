"""LoRA-the-Explorer benchmark: full-rank vs one LoRA vs LTE from scratch at equal samples, toy and tiny LM.

    .venv/bin/python bench/bench_lte.py [--quick] [--no-lm] [--lm-steps 400] [--seed 0] [--ray] [--json out.json]

1. The least-squares toy (W 64 x 64): 8 heads x rank 8, T = 10 with T = 1 and 50 beside it, 600 steps x batch 32;
   then 4 heads x rank 8 (heads x rank below the width). Printed: final validation loss of each scheme, the best a
   single rank-8 LoRA can reach (Eckart-Young floor), and the ratios measured in the same run.
2. (unless --no-lm) The tiny byte-level LM (2 x 64 LLaMA, SOTU): 4 heads x rank 8, T = 10, --lm-steps (400) x batch 16,
   with the other parameters averaged (the default), and 150 steps with them frozen (the choice measured).
3. Communication and memory per the note's formulas for each run.
4. (--ray) the toy's main run again with its heads on two local Ray workers: the same losses, and both timings.

The paper (ViT-S/32, ImageNet-100/1K, 32 heads x rank 32, T = 10): LTE approaches standard training on ImageNet-100,
leads early and ends behind on ImageNet-1K; without merging LoRA stalls; the toy recovers the true solution, faster
with more frequent merges; more heads and rank help, longer T hurts; heads stay near-orthogonal.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends import lte  # noqa: E402


def _mb(x: float) -> str:
    return f"{x / 2**20:.2f} MB"


def report(name: str, r: lte.LTEResult) -> dict:
    f, lo, lt = r.final("full"), r.final("lora"), r.final("lte")
    print(f"\n== {name}  ({r.seconds:.0f} s, heads on {r.backend} x {r.workers})")
    for k in r.losses:
        print(f"   {k:8s} final validation loss {r.final(k):.4f}  (start {r.losses[k][0]:.4f})")
    if r.floor is not None:
        print(f"   best single rank-{r.settings['rank']} LoRA (floor) {r.floor:.4f}; LTE / floor {lt / r.floor:.3f}, "
              f"single LoRA / floor {lo / r.floor:.3f}")
    gap = (lo - lt) / (lo - f) if lo != f else float("nan")
    print(f"   LTE closes {gap:.0%} of the single LoRA's gap to full-rank; heads' mean |cos| at the last merge "
          f"{r.head_similarity[-1]:.3f}")
    c = r.costs
    print(f"   M = {c['M']:,}, M_lte = {c['M_lte']:,}; LTE {_mb(c['lte']['per_merge'])} per merge, "
          f"{_mb(c['lte']['total'])} in all ({c['lte']['merges']} merges; 4-bit W {_mb(c['lte_4bit']['total'])}); "
          f"DDP all-reduce {_mb(c['full_allreduce']['total'])}, parameter server {_mb(c['full_server']['total'])}; "
          f"ratio all-reduce / LTE {c['full_allreduce']['total'] / c['lte']['total']:.1f}x")
    print(f"   memory per device: full {_mb(c['memory']['full'])}, LTE {_mb(c['memory']['lte'])} "
          f"(4-bit W {_mb(c['memory']['lte_4bit'])})")
    return {"name": name, "final": {k: r.final(k) for k in r.losses}, "floor": r.floor, "seconds": r.seconds,
            "similarity": r.head_similarity[-1], "costs": c}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="a quarter of the steps: a smoke run")
    ap.add_argument("--no-lm", action="store_true")
    ap.add_argument("--ray", action="store_true", help="also run the toy's heads on two local Ray workers")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lm-steps", type=int, default=400, help="steps of the LM run with averaged other parameters")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    q = 4 if args.quick else 1
    common = dict(seed=args.seed, threads=args.threads)
    out = []
    t0 = time.perf_counter()
    toy = lte.train_lte(heads=8, rank=8, merge_every=10, steps=600 // q, batch=32, network="toy",
                        extra_merge_every=(1, 50), **common)
    out.append(report("toy, 8 heads x rank 8, T = 10 (and 1, 50)", toy))
    out.append(report("toy, 4 heads x rank 8", lte.train_lte(heads=4, rank=8, merge_every=10, steps=600 // q,
                                                              batch=32, network="toy", **common)))
    if not args.no_lm:
        for others, steps in (("average", args.lm_steps), ("frozen", 150)):
            r = lte.train_lte(heads=4, rank=8, merge_every=10, steps=steps // q, batch=16, network="lm",
                              others=others, **common)
            out.append(report(f"tiny LM 2 x 64, 4 heads x rank 8, T = 10, other parameters {others}", r))
    if args.ray:
        r = lte.train_lte(heads=8, rank=8, merge_every=10, steps=600 // q, batch=32, network="toy", backend="ray",
                          workers=2, **common)
        same = max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(r.losses["lte"], toy.losses["lte"]))
        print(f"\n== Ray, 2 workers: LTE final {r.final('lte'):.4f} (in-process {toy.final('lte'):.4f}), largest "
              f"relative difference over the curve {same:.1e}; {r.seconds:.0f} s against {toy.seconds:.0f} s "
              f"in-process ({r.note or 'no fallback'})")
    print(f"\nTotal {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
