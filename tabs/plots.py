"""Figure builders shared by the tabs: token-score strips, ROC curves, score gauges.

They take plain values (lists, floats) from backend result dataclasses and return Plotly figures or
HTML strings; no model code here.
"""
from __future__ import annotations

import html
import math
from typing import Sequence

import plotly.graph_objects as go

# Colour-blind-safe endpoints (blue: unsurprising, orange: surprising), readable on a projector.
LOW_RGB, MID_RGB, HIGH_RGB = (49, 130, 189), (247, 247, 247), (230, 97, 1)


def _mix(value: float, lo: float, hi: float) -> str:
    if not math.isfinite(value):
        return "rgb(200,200,200)"
    t = 0.5 if hi <= lo else min(max((value - lo) / (hi - lo), 0.0), 1.0)
    a, b, u = (LOW_RGB, MID_RGB, t * 2) if t < 0.5 else (MID_RGB, HIGH_RGB, t * 2 - 1)
    return "rgb({},{},{})".format(*(round(x + (y - x) * u) for x, y in zip(a, b)))


def token_strip(tokens: Sequence[str], values: Sequence[float], *, label: str,
                extra: dict[str, Sequence[float]] | None = None, lo: float | None = None,
                hi: float | None = None, highlight: tuple[int, int] | None = None) -> str:
    """HTML: each token on a background coloured by its value, all values in the hover title.

    ``extra`` adds more per-token series to the hover text (same length as tokens); tokens in the
    index range ``highlight`` [start, end) are outlined (an answer span, say).
    """
    finite = sorted(v for v in values if math.isfinite(v))
    lo = (finite[0] if finite else 0.0) if lo is None else lo
    # The 95th percentile, not the maximum: one very surprising token would wash out the rest.
    hi = (finite[int(0.95 * (len(finite) - 1))] if finite else 1.0) if hi is None else hi
    spans = []
    for i, (tok, v) in enumerate(zip(tokens, values)):
        tip = [f"{label}: {v:.2f}"] + [f"{name}: {series[i]:.2f}" for name, series in (extra or {}).items()]
        shown = html.escape(tok).replace("\n", "↵<br>") or "&nbsp;"
        cls = "tok hl" if highlight and highlight[0] <= i < highlight[1] else "tok"
        spans.append(f'<span class="{cls}" style="background:{_mix(v, lo, hi)}" title="{html.escape(" | ".join(tip))}">'
                     f"{shown}</span>")
    legend = (f'<div class="tok-legend"><span style="background:{_mix(lo, lo, hi)}">{lo:.1f}</span> '
              f'{html.escape(label)} <span style="background:{_mix(hi, lo, hi)}">{hi:.1f}</span></div>')
    return f'<div class="token-strip">{"".join(spans)}</div>{legend}'


def roc_figure(curves: dict[str, tuple[Sequence[float], Sequence[float], float]], *, title: str = "ROC",
               log_x: bool = True) -> go.Figure:
    """ROC curves: name -> (fpr, tpr, auroc). A log FPR axis shows the low-FPR region that matters."""
    fig = go.Figure()
    for name, (fpr, tpr, area) in curves.items():
        xs = [max(f, 1e-4) for f in fpr] if log_x else list(fpr)
        fig.add_trace(go.Scatter(x=xs, y=list(tpr), mode="lines", line_shape="hv",
                                 name=f"{name} (AUROC {area:.3f})"))
    fig.add_trace(go.Scatter(x=[1e-4 if log_x else 0, 1], y=[1e-4 if log_x else 0, 1], mode="lines",
                             line={"dash": "dot", "color": "grey"}, name="chance"))
    fig.update_layout(title=title, xaxis_title="false-positive rate (human called machine)",
                      yaxis_title="true-positive rate (machine caught)", height=420,
                      margin={"l": 60, "r": 20, "t": 50, "b": 50}, legend={"x": 0.45, "y": 0.05})
    if log_x:
        fig.update_xaxes(type="log", range=[-4, 0])
    fig.update_yaxes(range=[0, 1.02])
    return fig


def score_gauge(score: float, threshold: float, *, lo: float = 0.5, hi: float = 1.5,
                title: str = "Binoculars score") -> go.Figure:
    """A horizontal bar: the score against the threshold, machine region shaded."""
    lo, hi = min(lo, score - 0.05, threshold - 0.05), max(hi, score + 0.05, threshold + 0.05)
    fig = go.Figure()
    fig.add_shape(type="rect", x0=lo, x1=threshold, y0=0, y1=1, fillcolor="rgba(230,97,1,0.18)", line_width=0)
    fig.add_shape(type="rect", x0=threshold, x1=hi, y0=0, y1=1, fillcolor="rgba(49,130,189,0.15)", line_width=0)
    fig.add_trace(go.Scatter(x=[score], y=[0.5], mode="markers+text", marker={"size": 18, "color": "black"},
                             text=[f"{score:.3f}"], textposition="top center", name="score",
                             hovertemplate="score %{x:.4f}<extra></extra>"))
    fig.add_vline(x=threshold, line={"color": "black", "dash": "dash"},
                  annotation_text=f"threshold {threshold:.3f}", annotation_position="bottom")
    fig.add_annotation(x=(lo + threshold) / 2, y=0.9, text="machine", showarrow=False)
    fig.add_annotation(x=(threshold + hi) / 2, y=0.9, text="human", showarrow=False)
    fig.update_layout(title=title, height=200, showlegend=False, margin={"l": 20, "r": 20, "t": 40, "b": 30},
                      yaxis={"visible": False, "range": [0, 1]}, xaxis={"range": [lo, hi]})
    return fig


def per_token_lines(tokens: Sequence[str], series: dict[str, Sequence[float]], *, title: str,
                    yaxis: str) -> go.Figure:
    """Per-token values as lines over token position, with the token in the hover."""
    fig = go.Figure()
    for name, ys in series.items():
        fig.add_trace(go.Scatter(x=list(range(1, len(ys) + 1)), y=list(ys), mode="lines+markers", name=name,
                                 customdata=list(tokens), marker={"size": 4},
                                 hovertemplate="%{customdata}<br>" + name + ": %{y:.2f}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="token position", yaxis_title=yaxis, height=320,
                      margin={"l": 60, "r": 20, "t": 50, "b": 50}, hovermode="x unified")
    return fig
