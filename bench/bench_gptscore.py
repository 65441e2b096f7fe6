"""GPTScore benchmark: time per hypothesis, then the meta-evaluation's correlations (the headline).

    .venv/bin/python bench/bench_gptscore.py [--profile cpu] [--sources 24] [--scorers VAL IST-fluency ...]

Timing: the ten texts of one built-in source scored with IST-fluency (src->hypo) in one batched call,
and one at a time. Headline: for each scorer (VAL, IST-fluency, IST-consistency, unconditional
perplexity, Rouge-L against the source), the mean per-source Spearman rho and Kendall tau between the
score and -damage level, per axis, with 95 % bootstrap intervals over sources, and the cross-test
(the paper's claim, per the method note: each instruction lifts correlation on its own axis more than
on the other).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends import gptscore as G  # noqa: E402
from backends import models  # noqa: E402


def timing(lm, item: G.MetaItem) -> None:
    texts = [h["text"] for h in item.hypotheses]
    G.gptscore(texts[:1], source=item.source, model=lm)  # warm up
    t0 = time.perf_counter()
    batched = G.gptscore(texts, source=item.source, model=lm)
    t_batch = time.perf_counter() - t0
    t0 = time.perf_counter()
    single = [G.gptscore([t], source=item.source, model=lm)[0] for t in texts]
    t_one = time.perf_counter() - t0
    diff = max(abs(a.score - b.score) for a, b in zip(batched, single))
    print(f"{len(texts)} texts of {item.source_id}: batched {t_batch / len(texts) * 1000:.0f} ms per text, "
          f"one at a time {t_one / len(texts) * 1000:.0f} ms per text (x{t_one / t_batch:.2f}); "
          f"largest score difference {diff:.2e} nats")


def report(ev: G.MetaEvaluation) -> None:
    print(f"\n{ev.n_sources} sources, {len(ev.records)} texts, {ev.model}, {ev.seconds:.0f} s "
          f"({ev.seconds / max(len(ev.records), 1) * 1000:.0f} ms per text, all scorers)")
    print(f"{'scorer':<18}" + "".join(f"{'rho ' + a:>14}{'95% CI':>16}{'tau':>8}" for a in ev.axes))
    for s in ev.scorers:
        row = "".join(f"{ev.spearman[s][a]:>14.3f}{'[%.2f, %.2f]' % ev.spearman_ci[s][a]:>16}{ev.kendall[s][a]:>8.3f}"
                      for a in ev.axes)
        print(f"{s:<18}{row}")
    print("pooled over all sources (Spearman): " + "; ".join(
        f"{s} " + " / ".join(f"{ev.pooled_spearman[s][a]:.3f}" for a in ev.axes) for s in ev.scorers))
    for kind in ("shuffle", "truncate"):  # the fluency axis split by its two damages
        recs = [r for r in ev.records if r["kind"] in ("intact", kind)]
        rho, _, _ = G.correlations(recs, ev.scorers, ("fluency",), n_boot=10)
        print(f"fluency, {kind} only: " + ", ".join(f"{s} {rho[s]['fluency']:.3f}" for s in ev.scorers))
    if ev.claim_holds is not None:
        print(f"lift of IST-fluency over VAL: fluency {ev.lift('fluency', 'fluency'):+.3f}, "
              f"consistency {ev.lift('fluency', 'consistency'):+.3f}")
        print(f"lift of IST-consistency over VAL: consistency {ev.lift('consistency', 'consistency'):+.3f}, "
              f"fluency {ev.lift('consistency', 'fluency'):+.3f}")
        print(f"claim (each instruction lifts its own axis more): {'holds' if ev.claim_holds else 'does not hold'}")


def resumable(lm, items, scorers, path: Path, summarize_only: bool) -> G.MetaEvaluation:
    """The meta-evaluation, one source at a time, each source's records appended to ``path`` when done."""
    t0 = time.perf_counter()
    done: dict[str, list[dict]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            r = json.loads(line)
            done.setdefault(r["source_id"], []).append(r)
    records = []
    for i, item in enumerate(items):
        if item.source_id not in done and not summarize_only:
            recs = G.score_item(lm, item, scorers)
            with path.open("a") as f:
                f.writelines(json.dumps(r) + "\n" for r in recs)
            done[item.source_id] = recs
            print(f"  source {i + 1}/{len(items)} scored", file=sys.stderr, flush=True)
        records += done.get(item.source_id, [])
    return G.summarize(records, scorers, lm.name, time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="cpu", help="model profile: cpu (default models) or tiny")
    ap.add_argument("--model", default=None, help="model (default: the base slot)")
    ap.add_argument("--sources", type=int, default=None, help="first N sources of the set (default: all)")
    ap.add_argument("--scorers", nargs="+", default=list(G.DEFAULT_SCORERS))
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="write the meta-evaluation as JSON here")
    ap.add_argument("--records", type=Path, default=None,
                    help="append each source's scores to this JSONL file as it finishes, and reuse the sources "
                         "already there (a long run can be stopped and resumed)")
    ap.add_argument("--summarize-only", action="store_true", help="report on the --records file, score nothing")
    args = ap.parse_args()
    reg = models.configure(args.profile)
    lm = reg.get(reg.resolve(args.model, "base"))
    print(f"{lm.name} ({lm.info()['weights']})")
    items = G.load_meta_eval()
    if not args.no_timing:
        timing(lm, items[0])
    if args.records:
        ev = resumable(lm, items[: args.sources], args.scorers, args.records, args.summarize_only)
    else:
        ev = G.meta_evaluate(args.sources, args.scorers, lm,
                             progress=lambda f, m: print(f"  {m}", file=sys.stderr, flush=True))
    report(ev)
    if args.json:
        args.json.write_text(json.dumps(ev.to_dict(), indent=1))


if __name__ == "__main__":
    main()
