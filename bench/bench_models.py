"""Speed and fidelity of the default CPU models in each precision, from one run.

    .venv/bin/python bench/bench_models.py [--models qwen2.5-coder-0.5b qwen2.5-coder-1.5b]
                                           [--weights float32 int8] [--tokens 64] [--json out.json]

For each model and precision (loaded one at a time through the registry, ``name@weights``):
  * load: from the converted cache, quantisation included;
  * prompt throughput: one forward pass over a 256-token prompt, tokens per second;
  * greedy decoding: new tokens per second for ``--tokens`` tokens with a KV cache, after a warm-up;
  * the bandwidth bound: decoding reads every weight once per token (the embedding table excepted:
    one row), so tokens/s cannot exceed (memory bandwidth) / (bytes of weights read per token). The
    bandwidth is measured here, by summing a 1 GiB float32 tensor;
  * fidelity against float32 (when both are run): correlation of per-token log-probabilities on a
    paragraph, and how many greedy tokens agree before the first difference.
Ratios (int8 against float32) come from this one run on this machine.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TEXT = (ROOT / "README.md").read_text()[:8000]
PROMPT = "Write a Python function that checks whether a number is prime, and explain it."


def read_bandwidth_gb_s(gib: int = 1, repeats: int = 5) -> float:
    """Best-of-n read bandwidth: a float32 tensor of ``gib`` GiB summed (GB/s, 1e9 bytes)."""
    import torch

    x = torch.ones(gib * 2**28, dtype=torch.float32)
    x.sum()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        x.sum()
        best = min(best, time.perf_counter() - t0)
    return x.numel() * 4 / best / 1e9


def bytes_per_token(m) -> int:
    """Bytes of weights a decoding step reads: all of them except the embedding table (one row)."""
    embed = m.model.get_input_embeddings().weight
    return m.memory_bytes - embed.numel() * embed.element_size()


def measure(name: str, tokens: int) -> dict:
    import torch

    from backends import lm as L
    from backends.models import registry

    reg = registry()
    t0 = time.perf_counter()
    m = reg.get(name)
    load_s = time.perf_counter() - t0
    ids = m.tokenizer(TEXT)["input_ids"][:256]
    with torch.inference_mode():
        m.model(input_ids=torch.tensor([ids[:16]]))
        t0 = time.perf_counter()
        m.model(input_ids=torch.tensor([ids]), use_cache=False)
        prompt_s = time.perf_counter() - t0
    L.generate(m, "Hello", max_new_tokens=4)
    g = L.generate(m, PROMPT, chat=True, max_new_tokens=tokens)
    scores = L.score(m, [TEXT[:1500]], max_tokens=256)[0]
    return {"model": name, "weights": m.info()["weights"], "load_s": round(load_s, 2),
            "memory_mb": round(m.memory_bytes / 2**20), "bytes_per_token_mb": round(bytes_per_token(m) / 2**20),
            "prompt_tok_s": round(len(ids) / prompt_s, 1), "decode_tok_s": round(g.tokens_per_s, 2),
            "decode_tokens": len(g.token_ids), "greedy_ids": g.token_ids, "logprobs": scores.logprobs.tolist(),
            "mean_nll": round(scores.mean_nll, 4)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"])
    ap.add_argument("--weights", nargs="+", default=["float32", "int8"])
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    from backends.models import configure

    reg = configure("cpu")
    bw = read_bandwidth_gb_s()
    print(f"measured read bandwidth: {bw:.1f} GB/s (1 GiB float32 sum, best of 5)")
    rows = []
    for model in args.models:
        by_weights = {}
        for w in args.weights:
            r = measure(f"{model}@{w}", args.tokens)
            r["bound_tok_s"] = round(bw * 1e9 / (r["bytes_per_token_mb"] * 2**20), 2)
            by_weights[w] = r
            reg.unload(f"{model}@{w}")
            print(f"{model:20s} {r['weights']:8s} load {r['load_s']:6.2f} s | {r['memory_mb']:6d} MB, "
                  f"{r['bytes_per_token_mb']:5d} MB read per token | prompt {r['prompt_tok_s']:7.1f} tok/s | "
                  f"decode {r['decode_tok_s']:6.2f} tok/s (bandwidth bound {r['bound_tok_s']:.1f}, "
                  f"{r['decode_tok_s'] / r['bound_tok_s']:.0%} of it)", flush=True)
        ref = by_weights.get("float32")
        for w, r in by_weights.items():
            if ref is None or w == "float32":
                continue
            a, b = np.array(ref["logprobs"]), np.array(r["logprobs"])
            agree = next((i for i, (x, y) in enumerate(zip(ref["greedy_ids"], r["greedy_ids"])) if x != y),
                         min(len(ref["greedy_ids"]), len(r["greedy_ids"])))
            r["vs_float32"] = {"logprob_corr": round(float(np.corrcoef(a, b)[0, 1]), 4),
                               "mean_nll_diff": round(r["mean_nll"] - ref["mean_nll"], 4),
                               "greedy_agree_tokens": agree, "of": len(ref["greedy_ids"]),
                               "decode_speedup": round(r["decode_tok_s"] / ref["decode_tok_s"], 2),
                               "prompt_speedup": round(r["prompt_tok_s"] / ref["prompt_tok_s"], 2)}
            print(f"{model:20s} {w} vs float32: decode {r['vs_float32']['decode_speedup']}x, prompt "
                  f"{r['vs_float32']['prompt_speedup']}x, log-prob correlation {r['vs_float32']['logprob_corr']}, "
                  f"mean NLL {r['vs_float32']['mean_nll_diff']:+.4f} nats, greedy agrees for "
                  f"{agree}/{len(ref['greedy_ids'])} tokens", flush=True)
        rows.extend(by_weights.values())
    if args.json:
        Path(args.json).write_text(json.dumps({"bandwidth_gb_s": bw, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
