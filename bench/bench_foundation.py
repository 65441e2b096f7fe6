"""Foundation benchmark: app start-up, model load times (GGUF conversion vs converted cache), decode speed.

    .venv/bin/python bench/bench_foundation.py [--skip-convert] [--json out.json]

Each figure is measured in a fresh Python process so that nothing is warm by accident:
  * app import-to-serving: from `python app.py` starting to its page answering HTTP 200, no model loaded;
  * first load: GGUF dequantised and written to an empty temporary cache (what a new user waits once);
  * cached load: the same model from the converted cache, timed around ``registry.get`` after
    torch/transformers are imported (their import is reported separately, it is paid once per process);
  * greedy decode: tokens per second for 64 new tokens, after one warm-up generation.
Targets (issue #2): cached load under 1 s and at least 20x faster than the GGUF load; app serving in
under 10 s.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LMS = ["smollm2-135m-instruct", "gemma3-270m"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}

CHILD_LOAD = r"""
import json, sys, time
t0 = time.perf_counter()
import torch, transformers, sentence_transformers
t_import = time.perf_counter() - t0
from backends.models import ModelRegistry
reg = ModelRegistry("cpu", cache_dir=sys.argv[2])
t0 = time.perf_counter()
m = reg.get(sys.argv[1])
t_load = time.perf_counter() - t0
first_from = m.loaded_from
# A second model load in the same process shows the cost without transformers' one-time set-up.
reg.unload(sys.argv[1])
t0 = time.perf_counter()
m = reg.get(sys.argv[1])
t_again = time.perf_counter() - t0
out = {"import_s": t_import, "load_s": t_load, "reload_s": t_again, "loaded_from": first_from}
if m.spec.is_lm and len(sys.argv) > 3:
    from backends import lm
    lm.generate(m, "Once upon a time", max_new_tokens=8)
    g = lm.generate(m, "The history of the United States begins", max_new_tokens=64)
    out["decode_tok_s"] = g.tokens_per_s
    out["decode_tokens"] = len(g.token_ids)
print("RESULT" + json.dumps(out))
"""


def child(model: str, cache: str, decode: bool = False) -> dict:
    args = [sys.executable, "-c", CHILD_LOAD, model, cache] + (["decode"] if decode else [])
    proc = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=1800)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    if line is None:
        raise RuntimeError(f"child failed for {model}:\n{proc.stderr[-3000:]}")
    return json.loads(line[len("RESULT"):])


def app_start() -> float:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - t0 < 120:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).status == 200:
                    return time.perf_counter() - t0
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the app did not serve within 120 s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-convert", action="store_true", help="skip the slow first-load (conversion) runs")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    from backends.models import default_cache_dir

    results: dict = {"cpu_count": os.cpu_count()}
    serve = [app_start() for _ in range(2)]
    results["app_import_to_serving_s"] = min(serve)
    print(f"app import-to-serving (no model loaded): {min(serve):.2f} s (best of 2: {serve[0]:.2f}, {serve[1]:.2f})")

    cache = str(default_cache_dir())
    for name in LMS:
        row: dict = {}
        if not args.skip_convert:
            with tempfile.TemporaryDirectory() as empty:
                first = child(name, empty)
            assert first["loaded_from"] == "converted", first
            row["first_load_s"] = first["load_s"]
        child(name, cache)  # makes sure the shared cache entry exists
        cached = child(name, cache, decode=True)
        assert cached["loaded_from"] == "cache", cached
        row.update(cached_load_s=cached["load_s"], cached_reload_s=cached["reload_s"],
                   import_s=cached["import_s"], decode_tok_s=cached["decode_tok_s"])
        if "first_load_s" in row:
            row["speedup"] = row["first_load_s"] / row["cached_load_s"]
        results[name] = row
        first_txt = f"first (GGUF) load {row['first_load_s']:6.2f} s | " if "first_load_s" in row else ""
        ratio_txt = f" | ratio {row['speedup']:.0f}x" if "speedup" in row else ""
        print(f"{name:24s} {first_txt}cached load {row['cached_load_s']:.2f} s "
              f"(again in-process {row['cached_reload_s']:.2f} s){ratio_txt} | "
              f"greedy decode {row['decode_tok_s']:.1f} tok/s | torch+transformers import {row['import_s']:.2f} s")

    emb = child("all-minilm-l6-v2", cache)
    results["all-minilm-l6-v2"] = {"load_s": emb["load_s"], "reload_s": emb["reload_s"]}
    print(f"{'all-minilm-l6-v2':24s} package load {emb['load_s']:.2f} s (again in-process {emb['reload_s']:.2f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
