"""Selective prediction (ASPIRE) headline: AUACC and AUROC of each score, and time per question.

    flock /tmp/cpu.lock .venv/bin/python bench/bench_selective.py --profile cpu --dataset cot --limit 30
    flock /tmp/cpu.lock .venv/bin/python bench/bench_selective.py --profile cpu --dataset cot --limit 30 --tune

``--tune`` then trains the self-evaluation soft prompt on half of the questions and reports the other half
before and after. ``--save``/``--load`` keep the answered questions (a pickle) so tuning can rerun alone.
"""
from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PAPER = "paper (CoQA, OPT-2.7B): AUACC 91.23 -> 92.63, AUROC 74.61 -> 80.25 with ASPIRE"


def table(res) -> str:
    from backends.selective import LABELS

    lines = [f"{'score':34s} {'AUROC':>6s} {'95% CI':>15s} {'AUACC':>6s} {'95% CI':>15s}"]
    for k in res.auroc:
        lo, hi = res.auroc_ci[k]
        alo, ahi = res.auacc_ci[k]
        lines.append(f"{LABELS[k]:34s} {res.auroc[k]:6.3f} [{lo:5.3f}, {hi:5.3f}] {res.auacc[k]:6.3f} "
                     f"[{alo:5.3f}, {ahi:5.3f}]")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--dataset", default="cot", choices=["cot", "rag"])
    ap.add_argument("--limit", type=int, default=30)
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tune", action="store_true", help="also train and evaluate the self-evaluation soft prompt")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--soft-tokens", type=int, default=None)
    ap.add_argument("--save", type=Path, default=None)
    ap.add_argument("--load", type=Path, default=None)
    args = ap.parse_args()

    from backends import models

    models.configure(args.profile)
    from backends.selective import evaluate_selective

    if args.load:
        res = pickle.loads(args.load.read_bytes())
    else:
        models.registry().get("base")  # load first: the timing is of the method, not of the load
        t0 = time.perf_counter()
        res = evaluate_selective(args.dataset, None, n_samples=args.samples, limit=args.limit, seed=args.seed)
        dt = time.perf_counter() - t0
        print(f"{res.dataset}: {res.n} questions, {args.samples} samples each, model {res.model}: "
              f"{dt / res.n:.1f} s per question; accuracy {res.accuracy:.1%}; rule: {res.rule}")
        if args.save:
            args.save.write_bytes(pickle.dumps(res))
    print(table(res))
    best = max(range(len(res.alpha_sweep["alpha"])), key=lambda i: res.alpha_sweep["auroc"][i])
    print(f"alpha sweep: best AUROC {res.alpha_sweep['auroc'][best]:.3f} at alpha {res.alpha_sweep['alpha'][best]}")
    print(PAPER)
    if args.tune:
        from backends.selective.soft_prompt import DEFAULT_SOFT_TOKENS, learn_self_eval

        t0 = time.perf_counter()
        tuned = learn_self_eval(res, None, n_soft=args.soft_tokens or DEFAULT_SOFT_TOKENS, epochs=args.epochs,
                                seed=args.seed, progress=lambda f, m: print(f"  {f:.0%} {m}", flush=True))
        print(f"soft prompt: {tuned.n_train_examples} labelled answers from {tuned.n_train} questions, "
              f"{tuned.n_test} held-out questions, {time.perf_counter() - t0:.0f} s; "
              f"loss {tuned.losses[0]:.3f} -> {tuned.losses[-1]:.3f}")
        print(table(tuned.test))


if __name__ == "__main__":
    main()
