"""GPTScore: candidates scored side by side by their log-probability under an aspect's instruction, and the
built-in graded-damage meta-evaluation."""
from __future__ import annotations

import functools
import html
import re
import time

import gradio as gr
import plotly.graph_objects as go

from backends import gptscore as G
from backends.config import InputError, check_count, check_text, limits
from backends.decoding import Deadline
from tabs import plots
from tabs.common import HEAVY, Outputs, export_dicts, export_json, gpu, guarded
from tabs.ui import explain, intro

TITLE = "GPTScore"
SUMMARY = ("GPTScore (Fu et al. 2023): a text's quality on an aspect as its mean log-probability under an "
           "instruction that defines the aspect; candidates side by side, and a graded-damage meta-evaluation.")
N_CANDIDATES = 4
INTRO = """
**GPTScore** (Fu et al. 2023) evaluates a text by how likely a language model finds it after an instruction
that says what "good" means: GPTScore = Σₜ wₜ log p(hₜ | the tokens before it, T(d, a, S)), with wₜ = 1/m:
the mean token log-probability, as the authors' code computes it (**sum** uses wₜ = 1). **VAL** conditions on the
bare source, **IST** adds the task and the aspect's definition, **IDM** adds demonstrations of good texts too.
Variants: `src->hypo` p(h | source); `ref->hypo` p(h | reference), precision-like; `hypo->ref` p(reference | h),
recall-like; `avg` the mean of the last two; with several references the best one counts. Higher (closer to 0)
is better.
"""
NOTES = {p: (G.ASSETS / f"{p}_note.md").read_text() for p in ("tiny", "cpu") if (G.ASSETS / f"{p}_note.md").exists()}
SCORE = Outputs("summary", *(f"cand{i}" for i in range(N_CANDIDATES)), "csv", "json")
META = Outputs("report", "plot", "csv", "json")
SCORER_CHOICES = ["VAL", "IST-fluency", "IST-consistency", "IDM-fluency", "IDM-consistency", "perplexity", "Rouge-L"]
PLOT_EXPLANATION = ("Each bar is a scorer's mean Spearman correlation with the damage ranking (intact text best), "
                    "computed per source and averaged; whiskers are 95 % bootstrap intervals over sources. Compare "
                    "IST-fluency and IST-consistency with VAL on each axis: the paper's claim, as a cross-test, is "
                    "that each instruction helps most on its own axis. Perplexity sees no source; Rouge-L only "
                    "counts overlapping words.")


@functools.cache
def aspects() -> G.AspectSet:
    return G.load_aspects()


@functools.cache
def meta_items() -> tuple[G.MetaItem, ...]:
    return tuple(G.load_meta_eval()) if G.META_EVAL_PATH.exists() else ()


def examples() -> tuple[list[list], list[str]]:
    """One-click examples and their labels: a built-in source with three damaged versions (scored for fluency,
    then for consistency), and a reference-based pair."""
    rows, labels = [], []
    if meta_items():
        it = meta_items()[0]
        pick = {(h["kind"], h["level"]): h["text"] for h in it.hypotheses}
        rows.append([it.source, "", pick[("intact", 0)], pick[("shuffle", 2)], pick[("truncate", 2)],
                     pick[("swap", 3)], "src->hypo", "fluency"])
        rows.append([it.source, "", pick[("intact", 0)], pick[("shuffle", 2)], pick[("truncate", 2)],
                     pick[("swap", 3)], "src->hypo", "consistency"])
        labels += ["SOTU passage, four versions: fluency", "SOTU passage, four versions: consistency"]
    labels.append("Against a reference: avg")
    rows.append(["", "The committee approved the budget of 4 million dollars on Tuesday after a long debate.",
                 "After a long debate, the committee approved a 4 million dollar budget on Tuesday.",
                 "The committee rejected the budget of 9 million dollars on Friday.",
                 "Budget the approved committee debate long a after Tuesday on.", "", "avg", "consistency"])
    return rows, labels


def split_references(text: str) -> list[str]:
    """References separated by a line holding only ---."""
    return [r.strip() for r in re.split(r"(?m)^\s*---\s*$", text or "") if r.strip()]


def candidate_html(r: G.GPTScoreResult, rank: int, n: int) -> str:
    """A candidate's score and its tokens coloured by surprisal (-log p): orange tokens are the unlikely ones."""
    best = " · <b>best</b>" if rank == 1 and n > 1 else ""
    what = "the best reference's tokens given this candidate" if r.variant == "hypo->ref" else "this candidate's tokens"
    dirs = " · ".join(f"{d} {v:.3f}" for d, v in r.directions.items()) if r.variant != "src->hypo" else ""
    meta = (f'<div class="meta">GPTScore <b>{r.score:.3f}</b> nats/token · rank {rank} of {n}{best} · '
            f'{len(r.tokens)} tokens ({what}){" · truncated" if r.truncated else ""}'
            f'{f"<br>{html.escape(dirs)}" if dirs else ""}</div>')
    strip = plots.token_strip(r.tokens, [-x for x in r.token_logprobs], label="surprisal −log p (nats)", lo=0.0,
                              hi=10.0, extra={"log p": list(r.token_logprobs), "weight": list(r.weights)})
    return f'<div class="gptscore-cand">{meta}{strip}</div>'


@guarded
@gpu
def run_score(source: str, references: str, cand1: str, cand2: str, cand3: str, cand4: str, model: str,
              scenario: str, variant: str, aspect: str, definition: str, weighting: str,
              progress: gr.Progress = gr.Progress()):
    """Score the non-empty candidates side by side: the outputs named in SCORE."""
    cands = [cand1, cand2, cand3, cand4]
    shown = [i for i, c in enumerate(cands) if isinstance(c, str) and c.strip()]
    if not shown:
        raise InputError("All candidate boxes are empty: type at least one text to score, or pick an example.")
    if weighting not in G.WEIGHTINGS:
        raise InputError(f"Weighting must be one of {', '.join(G.WEIGHTINGS)}.")
    aspect = check_text(aspect, what="Aspect")
    definition = check_text(definition, what="Aspect definition", allow_empty=True) or None
    refs = split_references(check_text(references, what="References", allow_empty=True))
    src = check_text(source, what="Source", allow_empty=variant != "src->hypo") or None
    progress(0.1, desc=f"Scoring {len(shown)} candidates in one batch")
    t0 = time.perf_counter()
    res = G.gptscore([cands[i] for i in shown], source=src, reference=refs or None, aspect=aspect, variant=variant,
                     scenario=scenario, definition=definition, weighting=weighting, model=model or None,
                     max_tokens=limits().max_tokens, time_budget_s=limits().time_budget_s)
    order = sorted(range(len(res)), key=lambda k: -res[k].score)
    rank = {k: order.index(k) + 1 for k in range(len(res))}
    boxes = [""] * N_CANDIDATES
    for k, i in enumerate(shown):
        boxes[i] = candidate_html(res[k], rank[k], len(res))
    best = shown[order[0]]
    aspect_words = "" if scenario == "VAL" else f", aspect **{aspect}**"
    summary = (f"**Best: candidate {best + 1}** ({res[order[0]].score:.3f} nats/token). {scenario}{aspect_words}, "
               f"{variant}, {weighting} weighting, `{res[0].model}`, {time.perf_counter() - t0:.1f} s."
               + (f" {len(refs)} references: the best one counts." if len(refs) > 1 and variant != "src->hypo" else ""))
    records = [{"candidate": i + 1, "score": r.score, "rank": rank[k], "variant": r.variant, "scenario": r.scenario,
                "aspect": r.aspect, "model": r.model, "n_tokens": len(r.tokens), "text": r.hypothesis}
               for k, (i, r) in enumerate(zip(shown, res))]
    settings = {"source": src, "references": refs, "definition": definition, "weighting": weighting}
    return SCORE.pack(summary=summary, **{f"cand{i}": boxes[i] for i in range(N_CANDIDATES)},
                      csv=export_dicts("gptscore-scores", records),
                      json=export_json("gptscore-scores", {"settings": settings,
                                                           "results": [r.to_dict() for r in res]}))


def report_markdown(ev: G.MetaEvaluation, done: int, total: int) -> str:
    head = "| scorer | " + " | ".join(f"ρ {a} | 95 % CI | τ {a} | pooled ρ {a}" for a in ev.axes) + " |\n"
    head += "|---" * (1 + 4 * len(ev.axes)) + "|\n"
    rows = "\n".join(f"| {s} | " + " | ".join(
        f"{ev.spearman[s][a]:.3f} | {ev.spearman_ci[s][a][0]:.2f} – {ev.spearman_ci[s][a][1]:.2f} | "
        f"{ev.kendall[s][a]:.3f} | {ev.pooled_spearman[s][a]:.3f}" for a in ev.axes) + " |" for s in ev.scorers)
    lines = [head + rows]
    if ev.claim_holds is not None:
        lines.append(f"**Cross-test:** IST-fluency lifts ρ over VAL by {ev.lift('fluency', 'fluency'):+.3f} on fluency "
                     f"and {ev.lift('fluency', 'consistency'):+.3f} on consistency; IST-consistency by "
                     f"{ev.lift('consistency', 'consistency'):+.3f} on consistency and "
                     f"{ev.lift('consistency', 'fluency'):+.3f} on fluency. Each instruction lifts its own axis more: "
                     f"**{'yes' if ev.claim_holds else 'no'}**.")
    lines.append(f"{done} of {total} sources, {len(ev.records)} texts, `{ev.model}`, {ev.seconds:.0f} s. ρ and τ: mean "
                 "over sources of the rank correlation between the score and −damage level within each source "
                 "(the paper's sample-level figure); pooled ρ ranks all sources' texts at once.")
    if done < total:
        lines.append("*Running… (Stop keeps what is shown.)*")
    return "\n\n".join(lines)


def correlation_figure(ev: G.MetaEvaluation) -> go.Figure:
    fig = go.Figure()
    for axis in ev.axes:
        rho = [ev.spearman[s][axis] for s in ev.scorers]
        ci = [ev.spearman_ci[s][axis] for s in ev.scorers]
        up = [max(0.0, hi - r) if hi == hi else 0.0 for r, (_, hi) in zip(rho, ci)]  # hi == hi: not NaN
        down = [max(0.0, r - lo) if lo == lo else 0.0 for r, (lo, _) in zip(rho, ci)]
        fig.add_trace(go.Bar(x=list(ev.scorers), y=rho, name=f"{axis} axis",
                             error_y={"type": "data", "symmetric": False, "array": up, "arrayminus": down},
                             hovertemplate="%{x}<br>ρ %{y:.3f}<extra>" + axis + "</extra>"))
    fig.update_layout(barmode="group", title="Spearman ρ with the damage ranking, per scorer and axis",
                      yaxis={"title": "mean per-source ρ", "range": [-1, 1.05]}, height=380,
                      margin={"l": 60, "r": 20, "t": 50, "b": 60})
    return fig


@guarded
@gpu
def run_meta(n_sources: float, scorers: list[str], model: str, progress: gr.Progress = gr.Progress()):
    """The meta-evaluation on the first n built-in sources, streamed after each source: outputs named in META."""
    items = meta_items()
    if not items:
        raise InputError("The meta-evaluation set is missing; run scripts/build_gptscore_set.py.")
    n = check_count(n_sources, what="Number of sources", low=1, high=len(items))
    scorers = G.check_scorers([s for s in (scorers or []) if s in SCORER_CHOICES])
    t0 = time.perf_counter()
    records: list[dict] = []
    lm = G.model_of(model or None)
    # A long run the user starts on purpose: it gets the cap on long runs, not one request's budget.
    for i, recs in enumerate(G.meta_evaluate_iter(items[:n], scorers, lm,
                                                  max_tokens=limits().max_tokens,
                                                  deadline=Deadline(max(limits().time_budget_s, limits().max_run_s)))):
        records.extend(recs)
        progress((i + 1) / n, desc=f"Source {i + 1}/{n}")
        ev = G.summarize(records, scorers, lm.name, time.perf_counter() - t0, n_boot=200 if i + 1 < n else 1000)
        done = i + 1 == n
        yield META.pack(report=report_markdown(ev, i + 1, n), plot=correlation_figure(ev),
                        csv=export_dicts("gptscore-meta-eval", records) if done else None,
                        json=export_json("gptscore-meta-eval", ev.to_dict()) if done else None)


def _definition_of(aspect: str) -> str:
    return aspects().definitions.get((aspect or "").strip(), "")


def build() -> None:
    reg = intro(INTRO, NOTES)
    with gr.Row():
        model = gr.Dropdown(reg.lm_names(), value=reg.slots["base"], label="Scoring model")
        scenario = gr.Radio(list(G.SCENARIOS), value="IST", label="Scenario",
                            info="VAL bare · IST instruction · IDM instruction + demonstrations")
        variant = gr.Radio(list(G.VARIANTS), value="src->hypo", label="Variant")
        weighting = gr.Radio(list(G.WEIGHTINGS), value="mean", label="Token weights", info="mean: wₜ = 1/m")
    with gr.Row():
        aspect = gr.Dropdown(list(aspects().definitions), value="fluency", allow_custom_value=True, scale=1,
                             label="Aspect (type a new one and define it)")
        definition = gr.Textbox(_definition_of("fluency"), label="Aspect definition (editable; used by IST and IDM)",
                                lines=2, max_length=2000, scale=3)
    aspect.change(_definition_of, aspect, definition, api_name="gptscore_definition")
    with gr.Tabs():
        with gr.Tab("Score candidates"):
            with gr.Row():
                source = gr.Textbox(label="Source (for src->hypo)", lines=5, max_length=limits().max_text_chars)
                references = gr.Textbox(label="References (for the other variants; several: separate with a line ---)",
                                        lines=5, max_length=limits().max_text_chars)
            cands, boxes = [], []
            with gr.Row(equal_height=False):
                for i in range(N_CANDIDATES):
                    with gr.Column(min_width=220):
                        cands.append(gr.Textbox(label=f"Candidate {i + 1}", lines=5,
                                                max_length=limits().max_text_chars))
                        boxes.append(gr.HTML())
            summary = gr.Markdown(render=False)
            csv = gr.File(label="Scores (CSV)", render=False)
            js = gr.File(label="Scores with per-token log-probs (JSON)", render=False)
            inputs = [source, references, *cands, model, scenario, variant, aspect, definition, weighting]
            outputs = SCORE.wire(summary=summary, **{f"cand{i}": boxes[i] for i in range(N_CANDIDATES)}, csv=csv,
                                 json=js)
            rows, labels = examples()
            ex = gr.Examples(rows, inputs=[source, references, *cands, variant, aspect], example_labels=labels,
                             label="Examples (one click scores them)")
            with gr.Row():
                run = gr.Button("Score the candidates", variant="primary")
                stop = gr.Button("Stop")
            summary.render()
            explain("Under each candidate: its score and its tokens coloured by surprisal, −log p (orange: the model "
                    "found the token unlikely here; hover for log p and the token's weight). A shuffled word order or "
                    "a changed number shows as orange tokens. For hypo->ref the tokens are the reference's.")
            with gr.Row():
                csv.render()
                js.render()
            event = run.click(run_score, inputs, outputs, api_name="gptscore_score", **HEAVY)
            ex_event = ex.load_input_event.then(_definition_of, aspect, definition, api_visibility="undocumented").then(
                run_score, inputs, outputs, api_name="gptscore_example", api_visibility="undocumented", **HEAVY)
            stop.click(None, None, None, cancels=[event, ex_event])
        with gr.Tab("Meta-evaluation"):
            gr.Markdown(f"{len(meta_items())} State of the Union passages, each with nine damaged versions at three "
                        "strengths: fluency (10-50 % of words shuffled; 15-50 % of each sentence cut) and consistency "
                        "(1, 2 or 4 numbers or names changed). **The judgements are the damage levels, set by rule, "
                        "not by people** (`assets/gptscore/GUIDELINES.md`, rebuilt by "
                        "`scripts/build_gptscore_set.py`). Each source scores its ten texts once per model scorer (40 "
                        "passes of about 300 tokens with the default scorers; Rouge-L needs no model): on a CPU, "
                        "start with one or two sources.")
            with gr.Row():
                n_sources = gr.Slider(1, max(len(meta_items()), 1), value=2, step=1, label="Sources (from the start)")
                scorers = gr.CheckboxGroup(SCORER_CHOICES, value=list(G.DEFAULT_SCORERS), label="Scorers")
            with gr.Row():
                run_m = gr.Button("Run the meta-evaluation", variant="primary")
                stop_m = gr.Button("Stop")
            report = gr.Markdown()
            with gr.Row():
                with gr.Column(scale=3):
                    plot = gr.Plot(label="Correlation per scorer and axis")
                with gr.Column(scale=1):
                    explain(PLOT_EXPLANATION)
            with gr.Row():
                m_csv = gr.File(label="Per-text scores (CSV)")
                m_json = gr.File(label="Meta-evaluation (JSON)")
            m_event = run_m.click(run_meta, [n_sources, scorers, model],
                                  META.wire(report=report, plot=plot, csv=m_csv, json=m_json),
                                  api_name="gptscore_meta", **HEAVY)
            stop_m.click(None, None, None, cancels=[m_event])

