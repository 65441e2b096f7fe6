"""Build the EWoK-style item set: fill assets/ewok/templates.json into assets/ewok/items.jsonl (seeded).

    .venv/bin/python scripts/build_ewok_items.py [--seed 0] [--versions 8] [--out assets/ewok/items.jsonl]

Each template gives ``--versions`` items with different fillers (the paper ships 5 versions of EWoK-core with
different filler substitutions). The same seed always writes the same file; the build refuses a set with
unfilled slots, identical contexts or targets, or unknown domains.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends import ewok as E  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--versions", type=int, default=8, help="filler versions per template")
    ap.add_argument("--templates", type=Path, default=E.TEMPLATES_PATH)
    ap.add_argument("--out", type=Path, default=E.ITEMS_PATH)
    args = ap.parse_args(argv)
    spec = json.loads(args.templates.read_text(encoding="utf-8"))
    items = E.build_items(spec, seed=args.seed, versions=args.versions)
    problems = E.check_items(items)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    with open(args.out, "w", encoding="utf-8") as f:
        for it in items:
            f.write(json.dumps(asdict(it), ensure_ascii=False) + "\n")
    per_domain = Counter(it.domain for it in items)
    print(f"{len(items)} items from {len(spec['templates'])} templates over {len(per_domain)} domains -> {args.out}")
    for d, n in per_domain.items():
        print(f"  {d}: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
