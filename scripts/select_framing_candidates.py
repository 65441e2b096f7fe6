"""Select the segments to annotate for the framing classifiers (writes assets/framing/to_annotate.csv).

Candidates are corpus segments with a relevance keyword (assets/framing/lexicon.json). The sample is
stratified by era (seven eras, PER_ERA each, or all candidates where an era has fewer) and, inside an
era, balanced between the two largest parties of that era. About a third are "weak" candidates (only
a broad keyword such as border, citizenship or settlers, never a word like immigrant or alien), so that
the relevance classifier sees keyword hits that are not about immigration. Segments over MAX_WORDS
words are left out to keep reading time reasonable. Seeded: running it again gives the same list.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/select_framing_candidates.py
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from backends import framing as F  # noqa: E402

ERAS = ((1790, 1829), (1830, 1859), (1860, 1899), (1900, 1939), (1940, 1969), (1970, 1999), (2000, 2100))
PER_ERA = 50
WEAK_SHARE = 0.35
MAX_WORDS = 130
SEED = 9
# Second round: more strong candidates from 1860 on, because the first round gave only ~120 relevant
# segments, too few to train a three-way tone classifier. Balanced by party like the first round.
EXTRA_ERAS = ERAS[2:]
EXTRA_PER_ERA = 24
STRONG = re.compile(r"\b(immigra|emigra|naturaliz|alien|refugee|deport|coolie|chinamen|chinese lab|undocumented|"
                    r"asylum|foreigner|newcomer|migrant|visa|quota|exclusion|melting pot|nation of immigrants)", re.I)


def select() -> pd.DataFrame:
    seg = F.corpus_segments()
    seg = seg[[F.is_candidate(t) for t in seg["text"]]].copy()
    seg["words"] = seg["text"].str.split().str.len()
    seg = seg[seg["words"] <= MAX_WORDS]
    seg["strong"] = [bool(STRONG.search(t)) for t in seg["text"]]
    rng = np.random.default_rng(SEED)
    picked = []
    for lo, hi in ERAS:
        era = seg[(seg["year"] >= lo) & (seg["year"] <= hi)]
        parties = era["party"].value_counts().index[:2].tolist()
        n_weak = int(round(PER_ERA * WEAK_SHARE))
        for strong, n in ((True, PER_ERA - n_weak), (False, n_weak)):
            pool = era[era["strong"] == strong]
            # Alternate the two main parties; the rest of the era fills any shortfall.
            per_party = [pool[pool["party"] == p].sample(frac=1, random_state=int(rng.integers(1 << 30)))
                         for p in parties]
            take = []
            for i in range(n):
                src = per_party[i % len(per_party)]
                used = set(take)
                rest = [j for j in src.index if j not in used]
                if rest:
                    take.append(rest[0])
            if len(take) < n:
                rest = pool.drop(index=take, errors="ignore")
                take += rest.sample(n=min(n - len(take), len(rest)), random_state=SEED).index.tolist()
            picked += take
    rng2 = np.random.default_rng(SEED + 1)
    for lo, hi in EXTRA_ERAS:
        pool = seg[(seg["year"] >= lo) & (seg["year"] <= hi) & seg["strong"] & ~seg.index.isin(picked)]
        parties = pool["party"].value_counts().index[:2].tolist()
        per_party = [pool[pool["party"] == p].sample(frac=1, random_state=int(rng2.integers(1 << 30))).index.tolist()
                     for p in parties]
        take = [j for pair in zip(*per_party) for j in pair][:EXTRA_PER_ERA]
        picked += take
    out = seg.loc[sorted(set(picked))]
    return out[["fileid", "paragraph", "part", "year", "president", "party", "text"]].reset_index(drop=True)


if __name__ == "__main__":
    df = select()
    path = F.ASSETS / "to_annotate.csv"
    df.to_csv(path, index=False)
    print(f"{len(df)} segments -> {path}")
    print(df.groupby([(df["year"] // 40) * 40, "party"]).size().to_string())
