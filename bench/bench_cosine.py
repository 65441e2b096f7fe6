"""Cosine sandbox benchmark: paper-scale simulation and both fits, and the alpha-slider update.

    .venv/bin/python bench/bench_cosine.py

Targets (issue #7): simulation + both fits under 10 s on 2 cores; a slider update under 0.3 s.
Also prints the agreement scores at the paper's settings.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends import cosine as C  # noqa: E402


def main() -> None:
    t0 = time.perf_counter()
    sim = C.simulate(20_000, 1_000, 5, seed=0)
    t_sim = time.perf_counter() - t0
    t1 = time.perf_counter()
    G = C.gram(sim.X)
    f1 = C.fit(sim.X, 1, 10_000, 50, G=G)
    f2 = C.fit(sim.X, 2, 100, 50, G=G)
    t_fit = time.perf_counter() - t1
    total = time.perf_counter() - t0
    print(f"paper scale: 20,000 users x 1,000 items, {sim.X.nnz:,} interactions")
    print(f"  simulate {t_sim:.2f} s + both fits {t_fit:.2f} s = {total:.2f} s (target < 10 s)")
    C.alpha_view(sim, f1, 0.5)  # warm-up: the first call imports scipy.stats (in the app, the experiment did)
    times = []
    for alpha in (0.0, 0.25, 0.5, 0.75, 1.0, 1.25):
        t = time.perf_counter()
        C.alpha_view(sim, f1, alpha)
        times.append(time.perf_counter() - t)
    print(f"  slider update (alpha_view): median {statistics.median(times):.3f} s, max {max(times):.3f} s "
          f"over {len(times)} values (target < 0.3 s)")
    cmp = C.compare(sim, f1, f2, project=True)
    print(f"  agreement with the true clusters (largest prediction change across alphas {cmp.prediction_gap:.1e}):")
    for r in cmp.rows:
        print(f"    {r['embedding']:34s} item AUROC {r['item_auroc']:.3f} (within {r['item_within']:.3f}, "
              f"between {r['item_between']:.3f}) | user AUROC {r['user_auroc']:.3f} | "
              f"user-item AUROC {r['user_item_auroc']:.3f}")


if __name__ == "__main__":
    main()
