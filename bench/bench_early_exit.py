"""Early-exit benchmark: logit-lens cost and self-speculative decoding over exit layers, in one run.

    .venv/bin/python bench/bench_early_exit.py [--profile cpu] [--tokens 32] [--drafts 2] [--exits 1,2,4,...]

1. Logit lens as the tab runs it (the first 64 positions of a text, every layer) against one plain forward
   pass of the same tokens; it projects exactly the shown cells through the head. ``--lens-tokens 256``
   measures a longer view.
2. Self-speculative decoding for every exit layer E of the sweep (d drafts at most per step): seconds
   against plain greedy decoding, measured one after the other in this process, with the acceptance,
   for the adaptive schedule (the default) and the paper's fixed one. Target (issue #15): at near-zero
   acceptance, at most 1.5x greedy for every exit layer. Every output must equal greedy's.
3. ``--transformers``: the same against transformers' generate(assistant_early_exit=E) for a few (E, d).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends import early_exit as EE  # noqa: E402
from backends import models  # noqa: E402

TEXT = ("The workbench lets students see what a language model paper claims. " * 40)
PROMPT = "The history of the United States begins"


def best_of(fn, n=3):
    best = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_lens(lm, positions: int) -> None:
    import torch

    ids = torch.tensor([lm.tokenizer(TEXT)["input_ids"][:positions]])
    head_rows = []
    hook = EE.parts(lm).head.register_forward_hook(lambda m, i, o: head_rows.append(i[0].numel() // i[0].shape[-1]))
    try:
        EE.logit_lens(TEXT, lm, max_tokens=positions)  # warm-up, and the head rows of one lens
        rows = sum(head_rows)
        with torch.inference_mode():
            t_plain = best_of(lambda: lm.model(input_ids=ids, use_cache=False), 2)
    finally:
        hook.remove()
    t_lens = best_of(lambda: EE.logit_lens(TEXT, lm, max_tokens=positions), 2)
    n = lm.model.config.get_text_config().num_hidden_layers
    print(f"[1] {lm.name}: lens of {positions} positions x {n + 1} layers: {rows} positions through the head "
          f"(= shown cells: {rows == positions * (n + 1)}); plain forward {t_plain:.2f} s, lens {t_lens:.2f} s: "
          f"{t_lens / t_plain:.2f}x")


def bench_exit_sweep(lm, exits: list[int], drafts: int, tokens: int) -> None:
    print(f"[2] self-speculative decoding, {tokens} new tokens, at most d={drafts} drafts per step, prompt {PROMPT!r}")
    ids = lm.tokenizer(PROMPT)["input_ids"]
    worst = 0.0
    for e in exits:
        t0 = time.perf_counter()
        reference = EE.greedy(lm, ids, tokens)
        t_greedy = time.perf_counter() - t0
        cells = []
        for adaptive in (True, False):
            r = EE.self_speculative(PROMPT, lm, exit_layer=e, num_speculations=drafts, max_new_tokens=tokens,
                                    compare=False, adaptive=adaptive)
            ratio = r.seconds / t_greedy
            if adaptive and r.acceptance_rate < 0.1:
                worst = max(worst, ratio)
            cells.append(f"{'adaptive' if adaptive else 'fixed'} {r.seconds:5.2f} s = {ratio:4.2f}x greedy, "
                         f"acceptance {r.acceptance_rate:5.1%} ({r.accepted}/{r.drafted}, {len(r.steps)} steps, "
                         f"{r.plain_steps} plain), identical {r.token_ids == reference}")
        print(f"    E={e:2d}: greedy {t_greedy:5.2f} s | " + " | ".join(cells), flush=True)
    print(f"    adaptive schedule at acceptance < 10 %: at most {worst:.2f}x greedy (target <= 1.5x)")


def bench_transformers(lm, tokens: int) -> None:
    print(f"[3] against transformers' generate(assistant_early_exit=E), {tokens} new tokens")
    n_layers = lm.model.config.get_text_config().num_hidden_layers
    for e, d in [(s_e, s_d) for s_e, s_d in [(6, 2), (12, 4), (18, 3), (24, 4), (27, 2)] if s_e < n_layers]:
        r = EE.self_speculative(PROMPT, lm, exit_layer=e, num_speculations=d, max_new_tokens=tokens)
        hf_ids, t_hf = EE.transformers_assistant_early_exit(PROMPT, lm, exit_layer=e, num_speculations=d,
                                                            max_new_tokens=tokens)
        print(f"    E={e:2d} d={d}: acceptance {r.acceptance_rate:5.1%} | ours {r.seconds:5.2f} s | greedy "
              f"{r.greedy_seconds:5.2f} s | transformers {t_hf:5.2f} s | speed-up vs greedy {r.speedup:.2f}x, "
              f"vs transformers {t_hf / r.seconds:.2f}x | identical: ours {r.identical}, "
              f"transformers {hf_ids == r.greedy_token_ids}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--drafts", type=int, default=2, help="most drafts per step in the exit-layer sweep")
    ap.add_argument("--exits", default="1,2,4,8,12,16,20,23", help="exit layers of the sweep (below the layer count)")
    ap.add_argument("--lens-tokens", type=int, default=64, help="positions the lens shows (the tab: 64)")
    ap.add_argument("--transformers", action="store_true", help="also compare with transformers' implementation")
    ap.add_argument("--profile", default="cpu", help="model profile: cpu (default models) or tiny")
    args = ap.parse_args()
    reg = models.configure(args.profile)
    lm = reg.get(reg.slots["early_exit"])
    n_layers = lm.model.config.get_text_config().num_hidden_layers
    print(f"{lm.name} ({lm.info()['weights']}, {n_layers} layers)")
    EE.self_speculative(PROMPT, lm, exit_layer=1, num_speculations=2, max_new_tokens=4)  # warm-up
    bench_lens(lm, args.lens_tokens)
    bench_exit_sweep(lm, [e for e in map(int, args.exits.split(",")) if 1 <= e < n_layers], args.drafts, args.tokens)
    if args.transformers:
        bench_transformers(lm, args.tokens)


if __name__ == "__main__":
    main()
