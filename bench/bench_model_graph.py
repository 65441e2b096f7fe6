"""Model graph (Octopus v4) benchmark: routing accuracy per router, then the graph against one model end to end.

    WORKBENCH_PROFILE=cpu .venv/bin/python bench/bench_model_graph.py [--routers all] [--n 5] [--seed 0]
                                                                      [--router logreg-minilm] [--tokens 160]
                                                                      [--no-end-to-end] [--json out.json]

1. Routing: every router (``--routers``, comma-separated or ``all``) on the held-out split of the generated
   routing set (88 queries from templates never seen in training) and on the 32 hand-written queries in other
   styles; the classifiers and the functional tokens train on the training split. Printed: accuracy per
   router and split, routing time and training time.
2. End to end (unless --no-end-to-end): ``--n`` arithmetic word problems and ``--n`` SOTU questions with gold
   answers, each answered by the node ``--router`` picks (the query rewritten in its template), by its labelled
   node (oracle routing), and by the profile's chat model with the query as it is (one model for everything).
   Printed: accuracy and answering time per system, then the memory of keeping the graph's models loaded
   against the one model (every model loaded first, so the figures are complete).

The paper (Octopus v4, 17 models on MMLU): a 3B router with functional tokens sends each query to a specialist
under 10B; 74.8 on MMLU, which the paper calls the best at that level. It reports no routing accuracy.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends import model_graph as MG  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--routers", default="all", help="comma-separated names from model_graph.ROUTERS, 'all' or 'none'")
    ap.add_argument("--n", type=int, default=5, help="end-to-end items per kind (arithmetic, SOTU)")
    ap.add_argument("--seed", type=int, default=0, help="which items (mixed_items' sample)")
    ap.add_argument("--router", default=MG.DEFAULT_ROUTER, help="the router of the end-to-end run")
    ap.add_argument("--tokens", type=int, default=160, help="answer token limit in the end-to-end run")
    ap.add_argument("--only", default=None, choices=["arithmetic", "sotu"], help="end-to-end items of one kind only")
    ap.add_argument("--no-end-to-end", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    from backends.models import registry

    reg = registry()
    routers = (list(MG.ROUTERS) if args.routers == "all" else [] if args.routers == "none"
               else [r.strip() for r in args.routers.split(",")])
    print(f"Profile {reg.profile}; routers {', '.join(routers)}")
    out: dict = {"profile": reg.profile, "routing": {}}
    print(f"{'router':20s} {'held-out':>9s} {'hard':>6s} {'route s':>8s} {'train s':>8s}  models")
    for name in routers:
        row = {}
        for split in ("test", "hard"):
            rep = MG.evaluate_routing([name], split=split)
            row[split] = rep.to_dict()
        t, h = row["test"], row["hard"]
        print(f"{name:20s} {t['accuracy'][name]:9.3f} {h['accuracy'][name]:6.3f} "
              f"{t['seconds'][name] + h['seconds'][name]:8.1f} {t['train_seconds'][name]:8.1f}  "
              f"{', '.join(t['models'][name])} (n={t['n']}, {h['n']})", flush=True)
        out["routing"][name] = row
    if not args.no_end_to_end:
        items = [it for it in MG.mixed_items(args.n, seed=args.seed) if args.only in (None, it["node"])]
        t0 = time.perf_counter()
        e2e = None
        for e2e in MG.end_to_end_iter(items, router=args.router, max_new_tokens=args.tokens):
            r = e2e.records[-1]
            print(f"  item {e2e.n}/{e2e.total} {r['node']:10s} -> {r['chosen']:10s} graph "
                  f"{'right' if r['graph correct'] else 'wrong'} ({r['graph seconds']:.0f} s), one model "
                  f"{'right' if r['single correct'] else 'wrong'} ({r['single seconds']:.0f} s)", flush=True)
        kinds = args.only or 'arithmetic + SOTU'
        print(f"\nEnd to end, {e2e.n} items ({kinds}, {args.n} each, seed {args.seed}), router "
              f"{args.router}, routing accuracy {e2e.routing_accuracy:.2f}, {time.perf_counter() - t0:.0f} s")
        for system in ("graph", "oracle", "single"):
            kinds = sorted({r["node"] for r in e2e.records})
            by_node = ", ".join(f"{n} {sum(r[f'{system} correct'] for r in e2e.records if r['node'] == n)}/"
                                f"{sum(r['node'] == n for r in e2e.records)}" for n in kinds)
            print(f"  {system:7s} accuracy {e2e.accuracy[system]:.2f} ({by_node}), answering "
                  f"{e2e.seconds[system]:.1f} s, "
                  f"models {', '.join(e2e.models[system])}")
        cost = MG.memory_cost(router=args.router, load=True)
        for m in cost["models"]:
            print(f"  {m['model']:28s} {m.get('memory_mb', 0):8.0f} MB  {m['role']}")
        print(f"  graph total {cost['total_mb']:.0f} MB vs one model ({cost['single']['model']}) "
              f"{cost['single_mb']:.0f} MB: {cost['total_mb'] / max(cost['single_mb'], 1e-9):.2f}x")
        out["end_to_end"], out["memory"] = e2e.to_dict(), cost
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
