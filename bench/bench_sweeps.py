"""Sweep benchmark: the CoT evaluation on 2 local Ray workers against 1 in-process run, in one run.

    .venv/bin/python bench/bench_sweeps.py [--profile cpu] [--problems 8] [--k 5] [--tokens 48] [--workers 2]

Prints, for the same problems, settings and seed:

- in-process: the evaluation as ``backend="local"`` (the model loaded before the clock starts, as in the app);
- Ray: ``backend="ray"`` with N workers, wall time including Ray's start-up and each worker loading its model,
  and the time after setup (the part that a longer sweep amortises);
- the speed-up of each against in-process, each worker's resident memory and setup time, and the answers that
  differ. The seeds are per problem, so the answers agree, except where two answers' confidences are closer
  than float noise: a worker runs torch on one thread where this process runs two, so sums run in another order.

On a 2-core machine two workers can at best halve the time, and less: each worker runs torch on one thread
where the in-process run has two, and each pays its own model load. On a cluster of N machines the item time
divides by about N once the items outnumber the workers several times; what limits it is the model load per
worker (paid once per sweep), the slowest item of the last round, and Ray's start-up.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends import cot_decoding as CD  # noqa: E402
from backends import models, sweeps  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--problems", type=int, default=8)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--sc", type=int, default=0, help="self-consistency samples per problem")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    reg = models.configure(args.profile)
    lm = reg.get(slot="base")
    problems = CD.load_problems()[: args.problems]
    kw = dict(k=args.k, max_new_tokens=args.tokens, sc_samples=args.sc, seed=0)
    print(f"CoT evaluation sweep: {len(problems)} problems, k={args.k}, {args.tokens} tokens, "
          f"{args.sc} self-consistency samples, model {lm.name} ({lm.weights}), profile {args.profile}")

    t0 = time.perf_counter()
    here = CD.evaluate(problems, lm, **kw)
    local_s = time.perf_counter() - t0
    print(f"in-process: {local_s:7.1f} s  ({local_s / len(problems):.1f} s per problem), "
          f"process memory {here.sweep['worker_memory_mb'][0]:.0f} MB")

    t0 = time.perf_counter()
    ray, why, _ = sweeps._ray(None)
    start_s = time.perf_counter() - t0
    if ray is None:
        print(f"Ray unavailable: {why}")
        return
    print(f"Ray start-up: {start_s:.1f} s")
    t0 = time.perf_counter()
    there = CD.evaluate(problems, lm.name, backend="ray", workers=args.workers, **kw)
    ray_s = time.perf_counter() - t0
    sw = there.sweep
    setup = max(sw["setup_seconds"]) if sw["setup_seconds"] else 0.0
    print(f"ray x{sw['workers']}: {ray_s:7.1f} s  (workers' setup, loading the model: "
          f"{', '.join(f'{s:.1f}' for s in sw['setup_seconds'])} s; after setup {ray_s - setup:.1f} s); "
          f"memory per worker {', '.join(f'{m:.0f}' for m in sw['worker_memory_mb'])} MB")
    if sw["note"]:
        print(f"  note: {sw['note']}")
    print(f"speed-up, ray x{sw['workers']} against in-process: {local_s / ray_s:.2f}x wall, "
          f"{local_s / max(ray_s - setup, 1e-9):.2f}x after setup; "
          f"{local_s / (ray_s + start_s):.2f}x with Ray's start-up")
    diffs = [(i, m, a[m], b[m]) for i, (a, b) in enumerate(zip(here.records, there.records))
             for m in CD.METHODS if a[m] != b[m]]
    print(f"answers that differ between the runs: {len(diffs)} of {len(problems) * len(CD.METHODS)}"
          + "".join(f"\n  problem {i + 1}, {m}: in-process {x!r}, ray {y!r}" for i, m, x, y in diffs))
    print(f"accuracy in-process {here.accuracy}\n         ray        {there.accuracy}")
    sweeps.shutdown_ray()


if __name__ == "__main__":
    main()
