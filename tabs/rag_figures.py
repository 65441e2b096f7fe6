"""Figures of the RAG QA tab: the passage-posterior heat map, prior against posterior, passage cards, and
the evaluation's bars. They take the backend's result dataclasses (:class:`backends.rag.Answer`,
:class:`backends.rag.Report`) and return Plotly figures or HTML; no model code here.
"""
from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from backends import rag as R


def passage_label(h: R.Hit) -> str:
    """A short name for a retrieved passage: its rank and year and president (or its title)."""
    p = h.passage
    who = f"{p.year} {p.president.split()[-1]}" if p.year else p.title[:24]
    return f"#{h.rank + 1} {who}"


def heat_map(ans: R.Answer) -> go.Figure | None:
    """Generated tokens (x) by passages (y) coloured by p(z|x,y_i); for RAG-Sequence, candidates by passages."""
    labels = [passage_label(h) for h in ans.passages]
    if ans.mode == "token" and ans.token_posteriors:
        z = np.array(ans.token_posteriors).T  # (k, T)
        x = list(range(len(ans.tokens)))
        ticks = [t.replace(" ", "·") or "∅" for t in ans.tokens]
        title, xt = "RAG-Token: p(z | x, y_i) for each generated token", "generated token"
    elif ans.mode == "sequence" and ans.candidates:
        lp = np.array([c["logprob_per_passage"] for c in ans.candidates]).T  # (k, C)
        a = R.log_prior_of([h.prior for h in ans.passages])[:, None] + lp
        z = np.exp(a - a.max(0, keepdims=True))
        z = z / z.sum(0, keepdims=True)
        x = list(range(len(ans.candidates)))
        ticks = [(c["text"][:24] + ("…" if len(c["text"]) > 24 else "")) or "(empty)" for c in ans.candidates]
        title, xt = "RAG-Sequence: p(z | x, y) for each candidate (best first)", "candidate answer"
    else:
        return None
    fig = go.Figure(go.Heatmap(z=z, x=x, y=labels, zmin=0, zmax=1, colorscale="Blues",
                               customdata=np.array([ticks] * len(labels)),
                               hovertemplate="%{y}<br>%{customdata}<br>p = %{z:.3f}<extra></extra>",
                               colorbar={"title": "p(z|·)"}))
    fig.update_xaxes(tickvals=x, ticktext=ticks, tickangle=-45, title=xt)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=title, height=max(260, 60 + 34 * len(labels)), margin={"l": 110, "r": 20, "t": 50, "b": 90})
    return fig


def prior_figure(ans: R.Answer) -> go.Figure:
    """Bars per passage: the retriever's prior p(z|x) and, where the mode has one, the posterior p(z|x,y)."""
    hits = ans.passages or ans.retrieved
    labels = [passage_label(h) for h in hits]
    fig = go.Figure(go.Bar(x=labels, y=[h.prior for h in hits], name="prior p(z|x)", marker_color="#999999",
                           hovertemplate="%{x}<br>prior %{y:.3f}<extra></extra>"))
    if ans.passage_posterior:
        fig.add_trace(go.Bar(x=labels, y=ans.passage_posterior, name="posterior p(z|x,y)", marker_color="#3182bd",
                             hovertemplate="%{x}<br>posterior %{y:.3f}<extra></extra>"))
    fig.update_layout(barmode="group", height=300, yaxis={"range": [0, 1], "title": "probability"},
                      title="Retriever prior and answer posterior per passage",
                      margin={"l": 60, "r": 20, "t": 50, "b": 60}, legend={"orientation": "h", "y": -0.25})
    return fig


def highlight(text: str, span: tuple[int, int] | None) -> str:
    """HTML of a passage with the answer span marked."""
    if not span:
        return html.escape(text)
    a, b = span
    return f"{html.escape(text[:a])}<mark>{html.escape(text[a:b])}</mark>{html.escape(text[b:])}"


def rank_text(h: R.Hit) -> str:
    """The passage's place under each retriever: dense, BM25 and fused ranks ("–": not in that list)."""
    show = lambda r: "–" if r is None else str(r)  # noqa: E731
    return (f'<span title="rank by embedding similarity / by BM25 / in the hybrid fusion">dense {show(h.dense_rank)}'
            f" · BM25 {show(h.bm25_rank)} · fused {show(h.fused_rank)}</span>")


def passages_html(ans: R.Answer) -> str:
    """One card per retrieved passage: rank, score, prior, posterior, source, and the text with the answer marked."""
    used = {h.passage.pid for h in ans.passages}
    post = dict(zip([h.passage.pid for h in ans.passages], ans.passage_posterior))
    cards = []
    for h in ans.retrieved:
        p = h.passage
        span = R.find_span(p.text, ans.text) if ans.text else None
        meta = (f"<b>#{h.rank + 1}</b> · {rank_text(h)} · cosine {h.score:.3f} · prior {h.prior:.3f}"
                + (f" · posterior {post[p.pid]:.3f}" if p.pid in post else "")
                + (f" · {p.year} · {html.escape(p.president)}" if p.year else "")
                + f" · <i>{html.escape(p.title)}</i>"
                + ("" if p.pid in used else " · <i>not shown to the generator in this mode</i>"))
        cards.append(f'<div style="border:1px solid var(--border-color-primary);border-radius:6px;padding:8px;'
                     f'margin:6px 0;{"" if p.pid in used else "opacity:0.65;"}"><div style="font-size:0.9em">'
                     f'{meta}</div><div style="margin-top:4px">{highlight(p.text, span)}</div></div>')
    return "".join(cards)


RETRIEVAL_COLOURS = {"hybrid": "#3182bd", "dense": "#9ecae1", "bm25": "#fd8d3c"}


def recall_figure(rep: R.Report) -> go.Figure:
    """Recall@n of every retriever side by side, then exact match and F1 per mode (with ``rep.retrieval``)."""
    fig = go.Figure()
    by = rep.recall_by_retrieval or {rep.retrieval: rep.recall}
    for mode, recall in by.items():
        fig.add_trace(go.Bar(x=[f"recall@{n}" for n in R.RECALL_AT], y=[recall[n] for n in R.RECALL_AT],
                             name=R.RETRIEVAL_LABELS[mode], marker_color=RETRIEVAL_COLOURS[mode],
                             text=[f"{recall[n]:.0%}" for n in R.RECALL_AT], textposition="outside"))
    for m in rep.modes:
        fig.add_trace(go.Bar(x=[f"EM {R.MODE_LABELS[m]}", f"F1 {R.MODE_LABELS[m]}"], y=[rep.exact_match[m], rep.f1[m]],
                             name=R.MODE_LABELS[m], text=[f"{rep.exact_match[m]:.0%}", f"{rep.f1[m]:.2f}"],
                             textposition="outside"))
    fig.update_layout(height=360, yaxis={"range": [0, 1.1], "title": "share / score"}, barmode="group",
                      title=f"Built-in QA set: {rep.n} questions (answers from {R.RETRIEVAL_LABELS[rep.retrieval]} "
                            "passages)", margin={"l": 60, "r": 20, "t": 50, "b": 80},
                      legend={"orientation": "h", "y": -0.25})
    return fig
