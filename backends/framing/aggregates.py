"""Aggregates over the segment table (pandas): tone by period and party, the party gap, presidents against
their party, frame log-odds, groups' tone and frames, filters and the flat CSV table.

Tone per segment is ``p_pro - p_anti`` (in [-1, 1]); the study's per-speech tone is the share of pro minus
the share of anti segments, the same quantity in expectation. Intervals are 95% normal intervals.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from backends.config import InputError
from backends.framing.lexicon import frame_names

ERAS = ((1790, 1879, "1790-1879"), (1880, 1944, "1880-1944 exclusion and quotas"),
        (1945, 1979, "1945-1979"), (1980, 2100, "1980-today"))
PARTY_ERAS = ((1880, 1944, "1880-1944"), (1945, 1979, "1945-1979"), (1980, 2100, "1980-today"))
LANDMARKS = {1882: "Chinese Exclusion Act", 1924: "Immigration Act (quotas)", 1943: "Chinese exclusion repealed",
             1965: "Hart-Celler Act", 1986: "IRCA amnesty", 2001: "9/11"}


def era_of(year: int, eras=ERAS) -> str:
    for lo, hi, name in eras:
        if lo <= year <= hi:
            return name
    return "other"


def has_label(column: pd.Series, label: str) -> pd.Series:
    """Rows whose {label: count} dict (a ``frames`` or ``groups`` cell) holds ``label``."""
    return column.map(lambda d: bool(d.get(label)))


def _mean_se(x: np.ndarray) -> tuple[float, float]:
    n = len(x)
    if n == 0:
        return float("nan"), float("nan")
    m = float(np.mean(x))
    se = float(np.std(x, ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return m, se


def tone_by_period(df: pd.DataFrame, by: str | None = "party", period: int = 10, *,
                   parties: Sequence[str] | None = None, min_n: int = 1) -> pd.DataFrame:
    """Mean tone (p_pro - p_anti) of relevant segments per period (and per ``by`` value).

    Columns: period (first year), [by], n, tone, se, lo, hi (95% normal interval, mean +- 1.96 se).
    """
    if period < 1:
        raise InputError("period must be at least 1 year.")
    rel = df[df["relevant"]]
    if parties is not None and by == "party":
        rel = rel[rel["party"].isin(parties)]
    keys = ["period"] + ([by] if by else [])
    rel = rel.assign(period=(rel["year"] // period) * period)
    rows = []
    for k, sub in rel.groupby(keys, sort=True):
        k = k if isinstance(k, tuple) else (k,)
        m, se = _mean_se(sub["tone_score"].to_numpy())
        if len(sub) < min_n:
            continue
        rows.append({**dict(zip(keys, k)), "n": len(sub), "tone": m, "se": se,
                     "lo": m - 1.96 * se if se == se else m, "hi": m + 1.96 * se if se == se else m})
    return pd.DataFrame(rows, columns=keys + ["n", "tone", "se", "lo", "hi"])


def polarisation_gap(df: pd.DataFrame, *, since: int = 1970, period: int = 10,
                     a: str = "Democratic", b: str = "Republican") -> pd.DataFrame:
    """Tone gap a - b per period since ``since``, with its standard error and 95% interval."""
    t = tone_by_period(df[df["year"] >= since], by="party", period=period, parties=[a, b])
    rows = []
    for per, sub in t.groupby("period"):
        ra, rb = sub[sub["party"] == a], sub[sub["party"] == b]
        if ra.empty or rb.empty:
            continue
        ga, gb = ra.iloc[0], rb.iloc[0]
        gap = float(ga["tone"] - gb["tone"])
        se = float(math.sqrt(np.nan_to_num(ga["se"]) ** 2 + np.nan_to_num(gb["se"]) ** 2))
        rows.append({"period": int(per), f"tone_{a}": ga["tone"], f"tone_{b}": gb["tone"], "gap": gap, "se": se,
                     "lo": gap - 1.96 * se, "hi": gap + 1.96 * se, f"n_{a}": int(ga["n"]), f"n_{b}": int(gb["n"])})
    return pd.DataFrame(rows)


PRESIDENT_COLUMNS = ["president", "party", "first_year", "last_year", "n", "tone", "se", "era", "party_era_tone",
                     "party_era_n", "difference"]


def president_tone(df: pd.DataFrame, *, min_n: int = 3) -> pd.DataFrame:
    """Each president's mean tone, and his party's mean in the same era without him."""
    rel = df[df["relevant"]].assign(era=lambda d: [era_of(int(y)) for y in d["year"]])
    rows = []
    for (pres, party), sub in rel.groupby(["president", "party"], sort=False):
        if len(sub) < min_n:
            continue
        era = sub["era"].mode().iloc[0]
        others = rel[(rel["party"] == party) & (rel["era"] == era) & (rel["president"] != pres)]
        m, se = _mean_se(sub["tone_score"].to_numpy())
        om, ose = _mean_se(others["tone_score"].to_numpy())
        rows.append({"president": pres, "party": party, "first_year": int(sub["year"].min()),
                     "last_year": int(sub["year"].max()), "n": len(sub), "tone": m, "se": se, "era": era,
                     "party_era_tone": om, "party_era_n": len(others),
                     "difference": m - om if om == om else float("nan")})
    if not rows:
        return pd.DataFrame(columns=PRESIDENT_COLUMNS)
    return pd.DataFrame(rows).sort_values("first_year").reset_index(drop=True)


def log_odds_ratio(a: int, n_a: int, b: int, n_b: int, prior: float = 0.5) -> tuple[float, float]:
    """log[(a/(n_a-a)) / (b/(n_b-b))] with ``prior`` added to each cell, and its standard error."""
    cells = [a + prior, n_a - a + prior, b + prior, n_b - b + prior]
    lor = math.log(cells[0] / cells[1]) - math.log(cells[2] / cells[3])
    return lor, math.sqrt(sum(1 / c for c in cells))


def frame_log_odds(df: pd.DataFrame, *, a: str = "Democratic", b: str = "Republican",
                   eras=PARTY_ERAS) -> pd.DataFrame:
    """Per era and frame: share of relevant segments of each party using the frame, and the log-odds
    ratio a vs b (positive: a uses it more) with a 95% interval."""
    rel = df[df["relevant"] & df["party"].isin([a, b])]
    rows = []
    for lo, hi, name in eras:
        sub = rel[(rel["year"] >= lo) & (rel["year"] <= hi)]
        na, nb = int((sub["party"] == a).sum()), int((sub["party"] == b).sum())
        if na == 0 or nb == 0:
            continue
        for f in frame_names():
            has = has_label(sub["frames"], f)
            ka, kb = int((has & (sub["party"] == a)).sum()), int((has & (sub["party"] == b)).sum())
            lor, se = log_odds_ratio(ka, na, kb, nb)
            rows.append({"era": name, "frame": f, f"share_{a}": ka / na, f"share_{b}": kb / nb, f"n_{a}": na,
                         f"n_{b}": nb, "log_odds": lor, "se": se, "lo": lor - 1.96 * se, "hi": lor + 1.96 * se})
    return pd.DataFrame(rows)


def _explode_groups(df: pd.DataFrame) -> pd.DataFrame:
    rel = df[df["relevant"]]
    rows = [(g, i) for i, d in zip(rel.index, rel["groups"]) for g in d]
    if not rows:
        return pd.DataFrame(columns=list(df.columns) + ["group"])
    g, idx = zip(*rows)
    out = df.loc[list(idx)].copy()
    out["group"] = list(g)
    return out


def _by_group_and_era(df: pd.DataFrame, eras) -> pd.core.groupby.DataFrameGroupBy:
    """Relevant segments, one row per group they mention, grouped by (group, era)."""
    ex = _explode_groups(df)
    return ex.assign(era=[era_of(int(y), eras) for y in ex["year"]]).groupby(["group", "era"])


def group_tone(df: pd.DataFrame, *, eras=ERAS, min_n: int = 1) -> pd.DataFrame:
    """Mean tone of relevant segments that mention each group, per era."""
    rows = []
    for (g, era), sub in _by_group_and_era(df, eras):
        if len(sub) < min_n:
            continue
        m, se = _mean_se(sub["tone_score"].to_numpy())
        rows.append({"group": g, "era": era, "n": len(sub), "tone": m, "se": se,
                     "share_anti": float((sub["tone"] == "anti").mean()),
                     "share_pro": float((sub["tone"] == "pro").mean())})
    return pd.DataFrame(rows, columns=["group", "era", "n", "tone", "se", "share_anti", "share_pro"])


def group_frames(df: pd.DataFrame, *, eras=ERAS) -> pd.DataFrame:
    """Share of a group's relevant segments that use each frame, per era (long format)."""
    rows = []
    for (g, era), sub in _by_group_and_era(df, eras):
        for f in frame_names():
            rows.append({"group": g, "era": era, "frame": f, "n": len(sub),
                         "share": float(has_label(sub["frames"], f).mean())})
    return pd.DataFrame(rows, columns=["group", "era", "frame", "n", "share"])


def _given(value: str | None) -> bool:
    return bool(value) and value != "any"


def filter_segments(df: pd.DataFrame, *, years: tuple[int, int] | None = None, party: str | None = None,
                    president: str | None = None, frame: str | None = None, group: str | None = None,
                    tone: str | None = None, relevant_only: bool = True) -> pd.DataFrame:
    """Segments matching every given filter (None or "" or "any" = no filter)."""
    m = pd.Series(True, index=df.index)
    if relevant_only:
        m &= df["relevant"]
    if years:
        m &= (df["year"] >= years[0]) & (df["year"] <= years[1])
    for column, value in (("party", party), ("president", president), ("tone", tone)):
        if _given(value):
            m &= df[column] == value
    for column, value in (("frames", frame), ("groups", group)):
        if _given(value):
            m &= has_label(df[column], value)
    return df[m]


def flat_table(df: pd.DataFrame) -> pd.DataFrame:
    """The segment table with dict columns flattened to strings, for CSV export."""
    out = df.drop(columns=[c for c in ("tone_probs",) if c in df.columns]).copy()
    for c in ("frames", "groups"):
        if c in out.columns:
            out[c] = out[c].map(lambda d: ";".join(f"{k}:{v}" for k, v in d.items()))
    return out
