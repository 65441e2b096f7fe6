"""EWoK benchmark: accuracy per domain (LogProbs and CHOICE) and time per item, beside the paper's figures.

    .venv/bin/python bench/bench_ewok.py [--profile cpu] [--models qwen2.5-coder-0.5b,...] [--per-domain 20]
                                         [--seed 0] [--metrics logprobs,choice] [--json out.json]

A seeded sample of ``--per-domain`` items from each of the 11 domains of assets/ewok/items.jsonl (0: all 528).
Time per item counts the model's forward passes only (the model is loaded before the clock starts): LogProbs
runs 4 continuations per item, CHOICE 2 prompts. The paper (EWoK-core-1.0, 1.3B-70B models): humans about
0.95, the best model (falcon-40b-instruct) about 0.80, chance 0.5; social interactions and properties easiest,
physical and spatial relations hardest; LogProbs beats CHOICE, most of all for small models.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends import ewok as E  # noqa: E402
from backends import models  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--models", default=None, help="comma-separated names (default: the profile's chat slot)")
    ap.add_argument("--per-domain", type=int, default=20, help="items per domain (0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--metrics", default="logprobs,choice")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args(argv)
    reg = models.configure(args.profile)
    names = args.models.split(",") if args.models else [reg.slots["chat"]]
    items = E.sample_items(E.load_items(), per_domain=args.per_domain or None, seed=args.seed)
    print(f"{len(items)} items ({args.per_domain or 'all'} per domain, seed {args.seed}), profile {args.profile}")
    out = []
    for name in names:
        lm = reg.get(name)  # loaded before timing
        for metric in args.metrics.split(","):
            ev = E.evaluate_ewok(items, lm, metric=metric, seed=args.seed)
            print(f"\n{name} {metric}: accuracy {ev.accuracy:.3f} (95% {ev.interval[0]:.2f}-{ev.interval[1]:.2f}), "
                  f"{ev.seconds_per_item:.3f} s/item, {ev.seconds:.0f} s for {ev.n} items")
            for d, a in ev.accuracy_by_domain.items():
                lo, hi = ev.interval_by_domain[d]
                print(f"  {d:24s} {a:.3f}  ({lo:.2f}-{hi:.2f})  n={ev.n_by_domain[d]}")
            out.append({"model": name, "metric": metric, "accuracy": ev.accuracy, "interval": ev.interval,
                        "by_domain": ev.accuracy_by_domain, "seconds_per_item": ev.seconds_per_item, "n": ev.n})
    print(f"\nPaper: humans ~{E.PAPER['humans']}, falcon-40b-instruct ~{E.PAPER['falcon-40b-instruct']}, chance "
          f"{E.CHANCE}; easiest {', '.join(E.PAPER['easiest'])}; hardest {', '.join(E.PAPER['hardest'])}.")
    if args.json:
        args.json.write_text(json.dumps({"per_domain": args.per_domain, "seed": args.seed, "runs": out}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
