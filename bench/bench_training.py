"""Trainer benchmark: step time of the scratch models on one and two threads, and continued pretraining of a
packaged model (held-out perplexity before and after).

    .venv/bin/python bench/bench_training.py [--steps 30] [--packaged-steps 10] [--seed 0] [--json out.json]

Part 1 times ``--steps`` AdamW steps (batch 8 x 128 bytes) of three scratch widths on 1 and 2 torch threads,
in the same run, and prints the ratio: the reason ``training.auto_threads`` trains small models on one thread
when the machine is busy. Part 2 continues SmolLM2-135M (float32, packaged) on State of the Union text for
``--packaged-steps`` steps (batch 4 x 128 tokens) and prints held-out perplexity per token before and after,
with seconds per step. Timings depend on what else runs on the machine: run it alone.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends import models  # noqa: E402
from backends import training as T  # noqa: E402

WIDTHS = ((4, 64), (4, 128), (6, 256))  # (layers, width)


def scratch_speed(steps: int, seed: int) -> list[dict]:
    rows = []
    for layers, hidden in WIDTHS:
        lm = T.scratch_model(T.ScratchConfig(layers=layers, hidden=hidden, heads=4), seed=seed)
        data = T.text_data(lm, seq_len=128)
        row = {"model": lm.name, "params": lm.n_params, "matmul_params": T.matmul_params(lm.model)}
        for threads in (1, 2):
            run = T.train(lm, steps=steps, data=data, batch_size=8, seed=seed, eval_every=steps, eval_blocks=8,
                          threads=threads)
            row[f"s_per_step_{threads}t"] = run.seconds / steps
            row[f"heldout_loss_{threads}t"] = run.eval_loss[-1]
        row["two_over_one"] = row["s_per_step_2t"] / row["s_per_step_1t"]
        rows.append(row)
        print(f"{lm.name:16s} {lm.n_params / 1e6:5.2f}M params  1 thread {row['s_per_step_1t'] * 1e3:7.0f} ms/step  "
              f"2 threads {row['s_per_step_2t'] * 1e3:7.0f} ms/step  (2/1: {row['two_over_one']:.2f}x)  held-out "
              f"loss after {steps} steps {row['heldout_loss_1t']:.3f} nats/byte")
    return rows


def packaged(steps: int, seed: int) -> dict:
    reg = models.configure("tiny")
    lm = reg.get("smollm2-135m-instruct")
    data = T.text_data(lm, seq_len=128, max_train_tokens=200_000, max_heldout_tokens=16_384)
    run = T.train(lm, steps=steps, data=data, batch_size=4, seed=seed, eval_every=steps, eval_blocks=32)
    per_step = run.seconds / max(1, len(run.steps))
    print(f"\nsmollm2-135m-instruct, {steps} steps of 4 x 128 tokens on SOTU (lr {run.config['lr']}): held-out "
          f"perplexity {run.eval_ppl[0]:.2f} -> {run.eval_ppl[-1]:.2f} per token, {per_step:.1f} s/step")
    return {"model": lm.name, "steps": steps, "ppl_before": run.eval_ppl[0], "ppl_after": run.eval_ppl[-1],
            "s_per_step": per_step}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--packaged-steps", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    out = {"scratch": scratch_speed(args.steps, args.seed)}
    if args.packaged_steps:
        out["packaged"] = packaged(args.packaged_steps, args.seed)
    print(f"\n{time.perf_counter() - t0:.0f} s in all")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
