#!/usr/bin/env python3
"""Where the test suite spends its time, from the junit XML files that `make test` writes.

    python scripts/test_durations.py                      # tests/artifacts/junit-*.xml
    python scripts/test_durations.py --top 40 a.xml b.xml  # other files, more rows

Prints the slowest tests, then seconds per file and per tier (one XML file is one pytest run: a tier). With
pytest-xdist the per-test times add up to more than the wall time of the run; the tier line gives both.
"""
from __future__ import annotations

import argparse
import os
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


def read_timeline(folder: Path) -> list[tuple[float, float, float, str, str, float]]:
    """[(start, end, cores busy meanwhile, worker, test, CPU seconds of the worker's process tree)] from the
    timeline-*.tsv files tests/conftest.py writes (CPU NaN in files written before that column)."""
    rows = []
    for path in sorted(folder.glob("timeline-*.tsv")):
        for line in path.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) in (5, 6):
                cpu = float(parts[5]) if len(parts) == 6 else float("nan")
                rows.append((float(parts[0]), float(parts[1]), float(parts[2]), parts[3], parts[4], cpu))
    return sorted(rows)


def report_cpu(rows: list[tuple[float, float, float, str, str, float]], top: int = 25, out=sys.stdout) -> None:
    """CPU seconds per folder and per file: the work a test costs the machine, whatever the other worker did
    meanwhile (on a CPU-bound run the wall time shrinks only with these)."""
    rows = [r for r in rows if r[5] == r[5]]
    if not rows:
        return
    per_folder: dict[str, float] = defaultdict(float)
    per_file: dict[str, float] = defaultdict(float)
    for r in rows:
        file = r[4].split("::")[0]
        per_file[file] += r[5]
        per_folder[file.rsplit("/", 1)[0]] += r[5]
    print(f"\nCPU seconds (each test's worker and its processes): {sum(r[5] for r in rows):.0f} in all", file=out)
    for folder, sec in sorted(per_folder.items(), key=lambda kv: -kv[1]):
        print(f"{sec:8.1f}  {folder}", file=out)
    print(f"CPU seconds per file (top {top})", file=out)
    for file, sec in sorted(per_file.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{sec:8.1f}  {file}", file=out)


def report_timeline(rows: list[tuple[float, float, float, str, str, float]], top: int = 10, cores: int | None = None,
                    out=sys.stdout) -> None:
    """When each worker was busy, and where the machine's cores sat idle (waits, sleeps, a worker done early)."""
    if not rows:
        return
    cores = cores or os.cpu_count() or 1
    t0, t1 = rows[0][0], max(r[1] for r in rows)
    print(f"\ntimeline: {t1 - t0:.0f} s from the first test's start to the last one's end, {cores} cores", file=out)
    print(f"{'worker':8} {'tests':>6} {'busy s':>8} {'first s':>8} {'last s':>8}", file=out)
    for worker in sorted({r[3] for r in rows}):
        mine = [r for r in rows if r[3] == worker]
        busy = sum(r[1] - r[0] for r in mine)
        print(f"{worker:8} {len(mine):6d} {busy:8.1f} {mine[0][0] - t0:8.1f} {max(r[1] for r in mine) - t0:8.1f}",
              file=out)
    idle = [((r[1] - r[0]) * max(0.0, cores - r[2]) / len({x[3] for x in rows}), r) for r in rows]
    print(f"idle core-seconds while tests ran (shared between workers): {sum(i for i, _ in idle):.0f}", file=out)
    print(f"{'idle':>8} {'secs':>6} {'cores':>5}  test (where the cores waited most)", file=out)
    for i, r in sorted(idle, key=lambda x: -x[0])[:top]:
        print(f"{i:8.1f} {r[1] - r[0]:6.1f} {r[2]:5.2f}  {r[4]}", file=out)


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
    rows = read_timeline(files[0].parent)
    report_timeline(rows)
    report_cpu(rows, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
