"""Early-exit benchmark: logit-lens overhead and self-speculative speed-ups, in one run.

    .venv/bin/python bench/bench_early_exit.py [--tokens 32]

1. Logit lens over all layers for a 256-token text against one plain forward pass of the same text.
   Target (issue #5): at most 2x.
2. Self-speculative decoding for several (E, d) on the CPU default: speed-up against plain greedy and
   against transformers' generate(assistant_early_exit=E), same prompt and settings, same process.
   The outputs of all three must be identical.
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


def main() -> None:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--profile", default="cpu", help="model profile: cpu (default models) or tiny")
    args = ap.parse_args()
    reg = models.configure(args.profile)
    name = reg.slots["early_exit"]
    lm = reg.get(name)
    ids = torch.tensor([lm.tokenizer(TEXT)["input_ids"][:256]])
    EE.logit_lens(TEXT, name, max_tokens=256)  # warm-up

    def plain():
        with torch.inference_mode():
            lm.model(input_ids=ids, use_cache=False)

    t_plain = best_of(plain)
    t_lens = best_of(lambda: EE.logit_lens(TEXT, name, max_tokens=256))
    print(f"[1] {name}: 256 tokens, plain forward {t_plain:.2f} s, logit lens over all "
          f"{lm.model.config.num_hidden_layers + 1} layers {t_lens:.2f} s: {t_lens / t_plain:.2f}x (target <= 2x)")
    print(f"[2] self-speculative decoding, {args.tokens} new tokens, prompt {PROMPT!r}")
    n_layers = lm.model.config.get_text_config().num_hidden_layers
    for e, d in [(s_e, s_d) for s_e, s_d in [(6, 2), (12, 4), (18, 3), (24, 4), (27, 2)] if s_e < n_layers]:
        r = EE.self_speculative(PROMPT, name, exit_layer=e, num_speculations=d, max_new_tokens=args.tokens)
        hf_ids, t_hf = EE.transformers_assistant_early_exit(PROMPT, name, exit_layer=e, num_speculations=d,
                                                            max_new_tokens=args.tokens)
        print(f"    E={e:2d} d={d}: acceptance {r.acceptance_rate:5.1%} | ours {r.seconds:5.2f} s | greedy "
              f"{r.greedy_seconds:5.2f} s | transformers {t_hf:5.2f} s | speed-up vs greedy {r.speedup:.2f}x, "
              f"vs transformers {t_hf / r.seconds:.2f}x | identical: ours {r.identical}, "
              f"transformers {hf_ids == r.greedy_token_ids}")


if __name__ == "__main__":
    main()
