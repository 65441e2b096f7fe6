"""Convert the packaged models into the weights cache ahead of time (a Space's image build, a classroom machine).

    python scripts/prepare_models.py            # every packaged GGUF model whose package is installed
    python scripts/prepare_models.py --names qwen2.5-coder-0.5b

A model already converted is left as it is; one being converted by another process is waited for (the cache's
build lock). Afterwards the app's first load of each model reads the cache (seconds) instead of converting it.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends import models  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--names", nargs="*", default=None, help="registry names (default: every packaged GGUF model)")
    ap.add_argument("--cache-dir", default=None)
    args = ap.parse_args(argv)
    reg = models.ModelRegistry("cpu", cache_dir=args.cache_dir, device="cpu")
    names = args.names or [n for n in reg.names() if reg.spec(n).source == models.PACKAGE_GGUF and not reg.spec(n).base]
    failed = 0
    for name in names:
        spec = reg.spec(name)
        spec = reg.spec(spec.base) if spec.base else spec
        entry = reg.cache_entry(spec)
        t0 = time.perf_counter()
        try:
            models.package_dir(spec)  # a clear message when the package is missing
            if not reg.ensure_converted(spec, lambda f, m, name=name: print(f"  {name}: {m}", flush=True)):
                print(f"{name}: already converted ({entry})")
                continue
            print(f"{name}: converted in {time.perf_counter() - t0:.0f} s ({entry})", flush=True)
        except models.ModelError as e:
            failed += 1
            print(f"{name}: {e}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
