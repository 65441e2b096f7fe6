"""Bandit playground benchmark: the baselines, the LLM agent's decision rate and prefix-cache reuse.

    .venv/bin/python bench/bench_bandits.py                 # baselines + LLM speed (a few minutes)
    .venv/bin/python bench/bench_bandits.py --experiments   # also the paper-style LLM runs (long)

Targets (issue #6): UCB, TS and Greedy, 1,000 replicates of T = 100 each, in under 1 s together; prefix-cache
reuse at least 3x faster than re-encoding the prompt each round (T = 100, raw history, answer-only prompt).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends import bandits as B  # noqa: E402
from backends import models  # noqa: E402


def baselines(inst: B.Instance) -> None:
    t0 = time.perf_counter()
    runs = [B.run_baseline(a, inst, horizon=100, replicates=1000, seed=0) for a in ("ucb", "ts", "greedy")]
    total = time.perf_counter() - t0
    print(f"baselines: UCB + TS + Greedy, 1,000 replicates x T = 100 each: {total:.3f} s "
          f"({', '.join(f'{r.agent} {r.seconds:.3f} s' for r in runs)}) (target < 1 s)")
    print(f"statistics on {inst.describe()}:")
    for r in runs + [B.run_baseline("egreedy", inst, horizon=100, replicates=1000, seed=0)]:
        print("  ", B.failure_stats(r).row())


def llm_speed(inst: B.Instance, horizon: int) -> None:
    lm = models.get_model(slot="chat")
    B.run_llm("BNRN0", inst, horizon=3, replicates=1, seed=0, model=lm)  # warm-up
    res = {}
    for reuse in (True, False):
        run = B.run_llm("BNRN0", inst, horizon=horizon, replicates=1, seed=0, reuse_cache=reuse, model=lm)
        res[reuse] = run
        how = "reusing the prefix KV cache" if reuse else "re-encoding every round"
        print(f"BNRN0 on {lm.name}, T = {horizon}, 1 replicate, {how}: "
              f"{run.seconds:.1f} s, {horizon / run.seconds:.1f} decisions/s, {run.tokens_run:,} prompt tokens run")
    same = (res[True].choices == res[False].choices).all()
    print(f"prefix-cache speed-up: {res[False].seconds / res[True].seconds:.1f}x (target >= 3x); "
          f"same decisions: {bool(same)}")
    run = B.run_llm("BSSN0", inst, horizon=horizon, replicates=1, seed=0, model=lm)
    print(f"BSSN0 (summarised history, less shared prefix): {horizon / run.seconds:.1f} decisions/s, "
          f"{run.tokens_run:,} prompt tokens run")


def experiments(inst: B.Instance, specs: list[str], out: Path | None) -> None:
    results = []
    for spec in specs:
        code, horizon, reps, *rest = spec.split(":")
        tokens = int(rest[0]) if rest else 96
        t0 = time.perf_counter()
        run = B.run_llm(code, inst, horizon=int(horizon), replicates=int(reps), seed=0, max_reasoning_tokens=tokens)
        stats = B.failure_stats(run)
        row = {**stats.row(), "T": int(horizon), "N": int(reps), "seconds": round(time.perf_counter() - t0, 1),
               "parse": run.parse_counts(), "model": run.model,
               "arm counts": [int((run.choices == a).sum()) for a in range(inst.k)]}
        results.append(row)
        print(json.dumps(row), flush=True)
    if out:
        out.write_text(json.dumps(results, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--experiments", nargs="*", default=None,
                    help="LLM runs as CODE:T:N[:reasoning tokens], e.g. BNRN0:100:10 'BSSC~0:100:10:96'")
    ap.add_argument("--horizon", type=int, default=100)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--profile", default="cpu", help="model profile: cpu (default models) or tiny")
    args = ap.parse_args()
    models.configure(args.profile)
    inst = B.make_instance("hard", seed=0)
    baselines(inst)
    if args.experiments is not None:
        experiments(inst, args.experiments or ["BNRN0:100:10", "BSSC~0:100:10:96"], args.out)
    else:
        llm_speed(inst, args.horizon)


if __name__ == "__main__":
    main()
