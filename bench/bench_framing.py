"""Framing benchmark: the first full-corpus analysis, the cached result, and one pasted paragraph.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_framing.py [--skip-full]

Targets (issue #9) on the CPU default: first full-corpus analysis under 5 minutes; from the on-disk
cache under 2 s; a pasted paragraph under 1 s. Model loading is timed on its own. Also prints the
decade-by-party tone table and the two headline shapes of the study. --skip-full reuses the cache
(builds it if missing) instead of recomputing.
"""
from __future__ import annotations

import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
warnings.filterwarnings("ignore")

from backends import framing as F  # noqa: E402

PARAGRAPH = ("Congress should restrict the immigration of the Chinese laborers who crowd our Pacific ports, depress "
             "the wages of American workingmen and refuse to assimilate; the flood of cheap labor must be stopped.")


def main() -> None:
    skip_full = "--skip-full" in sys.argv
    t0 = time.perf_counter()
    emb = F.load_model(None, F.EMBED_SLOT)  # loaded once here and passed to every call below
    lm = F.load_model(None, F.LM_SLOT)
    print(f"model loading (embedder {emb.name} + {lm.name}): {time.perf_counter() - t0:.1f} s")

    last = [0.0]

    def progress(f: float, msg: str) -> None:
        if f - last[0] >= 0.1 or f >= 1.0:
            last[0] = f
            print(f"  {time.perf_counter() - t1:6.1f} s  {f:4.0%}  {msg}", flush=True)

    t1 = time.perf_counter()
    r = F.corpus_result(progress=progress, use_cache=skip_full, embedder=emb, lm=lm)
    t_full = time.perf_counter() - t1
    seg = r["segments"]
    what = "from cache (--skip-full)" if r["from_cache"] else "computed and cached"
    print(f"first full-corpus analysis: {t_full:.1f} s ({what}; target < 300 s): {len(seg):,} segments, "
          f"{int(seg['candidate'].sum()):,} candidates, {int(seg['relevant'].sum()):,} relevant, "
          f"{len(r['metaphors'])} metaphor probes")

    F.forget_memo()  # a new process: nothing in memory, the file on disk
    t2 = time.perf_counter()
    r2 = F.corpus_result(embedder=emb, lm=lm)
    t_cache = time.perf_counter() - t2
    assert r2["from_cache"]
    t3 = time.perf_counter()
    F.corpus_result(embedder=emb, lm=lm)
    print(f"from the disk cache: {t_cache:.2f} s (target < 2 s); from memory: {time.perf_counter() - t3:.4f} s; "
          f"file {F.cache_path(r2['key']).stat().st_size / 1e6:.1f} MB")

    F.analyze_text(PARAGRAPH, zero_shot=False, embedder=emb, lm=lm)  # warm-up
    core, full, zs = [], [], []
    for _ in range(5):
        t = time.perf_counter()
        F.analyze_text(PARAGRAPH, metaphors=False, zero_shot=False, embedder=emb, lm=lm)
        core.append(time.perf_counter() - t)
        t = time.perf_counter()
        a = F.analyze_text(PARAGRAPH, zero_shot=False, embedder=emb, lm=lm)
        full.append(time.perf_counter() - t)
    for _ in range(3):
        t = time.perf_counter()
        F.analyze_text(PARAGRAPH, metaphors=False, zero_shot=True, embedder=emb, lm=lm)
        zs.append(time.perf_counter() - t)
    print(f"pasted paragraph ({len(PARAGRAPH.split())} words), median of 5: relevance + tone + frames + groups "
          f"{statistics.median(core):.2f} s; with the metaphor probe ({len(a.metaphor_slots)} slot) "
          f"{statistics.median(full):.2f} s (target < 1 s); with the zero-shot LM tone instead "
          f"{statistics.median(zs):.2f} s")

    t = F.tone_by_period(seg, by="party", period=10, parties=["Democratic", "Republican"])
    allp = F.tone_by_period(seg, by=None, period=10)
    print("\ndecade  Dem tone (n)    Rep tone (n)    all (n)")
    for per in allp["period"]:
        cells = []
        for party in ("Democratic", "Republican"):
            s = t[(t["period"] == per) & (t["party"] == party)]
            cells.append(f"{s['tone'].iloc[0]:+.3f} ({int(s['n'].iloc[0]):3d})" if len(s) else "    –         ")
        a_ = allp[allp["period"] == per].iloc[0]
        print(f"{int(per)}s  {cells[0]:>14}  {cells[1]:>14}  {a_['tone']:+.3f} ({int(a_['n'])})")
    rel = seg[seg["relevant"]]
    pre = rel[(rel["year"] >= 1880) & (rel["year"] <= 1929)]["tone_score"].mean()
    post = rel[rel["year"] >= 1950]["tone_score"].mean()
    yearly = rel[rel["year"] >= 1950].groupby("year")["tone_score"].mean()
    print(f"\nheadline 1 (net positive since ~1950): mean tone 1880-1929 {pre:+.3f}, since 1950 {post:+.3f}; "
          f"{(yearly > 0).mean():.0%} of years since 1950 positive")
    gap = F.polarisation_gap(seg, since=1950, period=10)
    print("headline 2 (growing gap since the late 1970s), Democratic minus Republican by decade: "
          + ", ".join(f"{int(g.period)}s {g.gap:+.2f}±{1.96 * g.se:.2f}" for g in gap.itertuples()))


if __name__ == "__main__":
    main()
