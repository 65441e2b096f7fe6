"""Figure builders of the framing tab: tone over time, presidents, frame log-odds, groups, metaphors.

Beside :mod:`tabs.plots`: they take the pandas tables of :mod:`backends.framing` (or a text's result
values) and return Plotly figures; no model code and no gradio here.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from backends import framing as F

PARTY_COLOURS = {"Democratic": "#2166ac", "Republican": "#b2182b"}
TONE_COLOURS = {"pro": "#1a9850", "anti": "#d73027", "neutral": "#999999"}
GROUP_PLOT = ["Chinese", "Mexican", "Italian", "Irish", "German", "Japanese", "Cuban", "Asian (region)",
              "European (region)", "Central American", "Haitian"]
TONE_AXIS = "mean P(pro) − P(anti)"


def _zero_line(fig: go.Figure, axis: str = "y") -> None:
    """A thin black line at zero on the tone (y) or log-odds (x) axis."""
    line = {"color": "black", "width": 1}
    if axis == "x":
        fig.add_vline(x=0, line=line)
    else:
        fig.add_hline(y=0, line=line)


def _landmarks(fig: go.Figure, lo: int, hi: int) -> None:
    for year, name in F.LANDMARKS.items():
        if lo <= year <= hi:
            fig.add_vline(x=year, line={"color": "grey", "dash": "dot", "width": 1})
            fig.add_annotation(x=year, y=1.0, yref="paper", text=f"{year} {name}", textangle=-90, showarrow=False,
                               xanchor="right", yanchor="top", font={"size": 9, "color": "#555"})


def tone_figure(t: pd.DataFrame, overall: pd.DataFrame, period: int, years: tuple[int, int]) -> go.Figure:
    """Mean tone per period: one line per major party with its 95% band, and all segments in grey."""
    fig = go.Figure()
    _zero_line(fig)
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
                      yaxis_title=TONE_AXIS, xaxis_title="year", height=430,
                      margin={"l": 60, "r": 20, "t": 50, "b": 40}, legend={"orientation": "h", "y": -0.15})
    return fig


def president_figure(p: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    _zero_line(fig)
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
                      yaxis_title=TONE_AXIS, xaxis_title="first year in office", height=400,
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
    _zero_line(fig, "x")
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
    _zero_line(fig)
    fig.update_layout(title="Tone of segments that mention each group, by era", barmode="group", height=420,
                      yaxis_title=TONE_AXIS, margin={"l": 60, "r": 20, "t": 50, "b": 80})
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
    _zero_line(fig)
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
    _zero_line(fig)
    fig.update_layout(title=f"Metaphor probes in the slot of: {', '.join(slots)} (log ratio vs neutral nouns)",
                      yaxis_title="log P(category) − log P(neutral)", height=320,
                      margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig



def upload_tone_figure(t: pd.DataFrame, period: int) -> go.Figure:
    """A user's corpus: mean tone of relevant rows per period and party, with 95% error bars."""
    fig = go.Figure()
    for party, sub in t.groupby("party"):
        fig.add_trace(go.Scatter(x=sub["period"] + period / 2, y=sub["tone"], mode="lines+markers", name=party,
                                 error_y={"type": "data", "array": (1.96 * sub["se"].fillna(0)).tolist()},
                                 line={"color": PARTY_COLOURS.get(party)}))
    _zero_line(fig)
    fig.update_layout(title=f"Your corpus: tone of relevant rows by party ({period}-year bins)", height=380,
                      yaxis_title=TONE_AXIS, margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig
