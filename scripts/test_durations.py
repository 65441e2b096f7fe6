#!/usr/bin/env python3
"""Where the test suite spends its time, from the junit XML files that `make test` writes.

    python scripts/test_durations.py                      # tests/artifacts/junit-*.xml
    python scripts/test_durations.py --top 40 a.xml b.xml  # other files, more rows

Prints the slowest tests, then seconds per file and per tier (one XML file is one pytest run: a tier). With
pytest-xdist the per-test times add up to more than the wall time of the run; the tier line gives both.
"""
from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[1] / "tests" / "artifacts"


def read(path: Path) -> tuple[list[tuple[str, str, float, str]], float]:
    """([(file, test, seconds, outcome)], the run's wall seconds) of one junit XML file."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    rows, wall = [], 0.0
    for suite in suites:
        wall += float(suite.get("time") or 0)
        for case in suite.iter("testcase"):
            outcome = "passed"
            for child in case:
                if child.tag in ("failure", "error", "skipped"):
                    outcome = {"failure": "failed"}.get(child.tag, child.tag)
            cls = case.get("classname", "")
            file = case.get("file") or cls.replace(".", "/") + ".py"
            rows.append((file, case.get("name", ""), float(case.get("time") or 0), outcome))
    return rows, wall


def report(paths: list[Path], top: int = 25, out=sys.stdout) -> None:
    tiers, everything = {}, []
    for path in paths:
        rows, wall = read(path)
        tiers[path.stem.removeprefix("junit-")] = (rows, wall)
        everything += [(path.stem.removeprefix("junit-"), *r) for r in rows]
    print(f"{top} slowest tests", file=out)
    print(f"{'seconds':>8}  {'tier':10} test", file=out)
    for tier, file, name, sec, outcome in sorted(everything, key=lambda r: -r[3])[:top]:
        mark = "" if outcome == "passed" else f"  [{outcome}]"
        print(f"{sec:8.1f}  {tier:10} {file}::{name}{mark}", file=out)
    per_file: dict[str, float] = defaultdict(float)
    for tier, file, _, sec, _ in everything:
        per_file[f"{tier}  {file}"] += sec
    print(f"\nseconds per file (top {top})", file=out)
    for key, sec in sorted(per_file.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{sec:8.1f}  {key}", file=out)
    print("\nper tier", file=out)
    print(f"{'tier':10} {'tests':>6} {'failed':>6} {'skipped':>7} {'test s':>8} {'wall s':>8}", file=out)
    for tier, (rows, wall) in tiers.items():
        failed = sum(r[3] in ("failed", "error") for r in rows)
        skipped = sum(r[3] == "skipped" for r in rows)
        print(f"{tier:10} {len(rows):6d} {failed:6d} {skipped:7d} {sum(r[2] for r in rows):8.1f} {wall:8.1f}",
              file=out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="*", type=Path, help="junit XML files (default: tests/artifacts/junit-*.xml)")
    p.add_argument("--top", type=int, default=25, help="rows in the slowest-test and per-file lists")
    args = p.parse_args(argv)
    files = args.files or sorted(ARTIFACTS.glob("junit-*.xml"))
    if not files:
        print(f"no junit XML files in {ARTIFACTS}: run `make test` first", file=sys.stderr)
        return 1
    report(files, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
