"""CoT path explorer: branch on the top-k first tokens, decode each path greedily, rank by answer confidence."""
from __future__ import annotations

import functools
import html
from collections import defaultdict

import gradio as gr
import plotly.graph_objects as go

from backends import cot_decoding as CD
from backends.config import check_count, limits
from tabs import plots
from tabs.common import HEAVY, Outputs, export_csv, export_dicts, failed_note, gpu, guarded, stream_sweep
from tabs.ui import explain, intro, sweep_controls

TITLE = "CoT path explorer"
SUMMARY = ("Chain-of-thought decoding (Wang & Zhou 2024): branch on the top-k first tokens, decode each path, "
           "rank paths by the confidence of their answer.")
EXAMPLES = [
    "Janet has 3 apples and buys 5 more. How many apples does she have now?",
    "A train travels 60 km per hour for 3 hours, then 40 km per hour for 2 hours. How many km does it travel in total?",
    "I have 3 apples, my dad has 2 more apples than me, how many apples do we have in total?",
    "Was Abraham Lincoln born in an even or odd year?",
]
INTRO = """
**CoT-decoding** (Wang & Zhou 2024): ask a *pre-trained* model a question in plain QA format (`Q: … A:`), take
each of the top-k tokens at the first decoding step, and continue every branch greedily. Some branches reason
step by step before answering, and on those the model tends to be more **confident in its answer**:
Δ = mean over the answer's tokens of p(top-1) − p(top-2). The **max path** takes the answer of the path with
the largest Δ; the **aggregated** answer sums Δ over the paths giving each answer.
"""
TINY_NOTE = """
*On the tiny profile* the model is Gemma-3-270M base: far too small to do arithmetic reliably (it gets a small
fraction of even one-step problems right; run the evaluation tab to see). This tab shows the *mechanics* of
CoT-decoding faithfully; the paper's effect (GSM8K 9.9 % → 25.1 % with Mistral-7B) needs the GPU profile's
larger models.
"""

CPU_NOTE = """
*On the cpu profile* the model is Qwen2.5-Coder-0.5B-Instruct in int8 (the 1.5B is in the list). It is
instruction-tuned, not a base model like the paper's Mistral-7B, and in the QA format it tends to list choices
after answering ("B: …", "C: …"): here a path ends where the QA turn ends, at the first new "X:" line, a
departure from the paper (which reads the answer from a fixed-length path). Measured on the first 30 built-in
problems (k = 10, 96 tokens, 5 self-consistency samples): greedy 30.0 %, max path 26.7 %, aggregated
**33.3 %**, self-consistency 26.7 %; the paper's signature shows clearly: paths with a correct answer have mean
Δ **0.64**, paths with a wrong one 0.35. The gains between methods are within the noise of 30 problems
(95 % intervals about ±15 points); the paper's GSM8K gain (Mistral-7B 9.9 % → 25.1 %) is on a larger model and
set. The tiny profile's Gemma-3-270M scores 0 % with greedy, max path and aggregated on the same problems.
"""
NOTES = {"tiny": TINY_NOTE, "cpu": CPU_NOTE}
EXPLORE = Outputs("summary", "paths", "chart", "table", "export")  # run_explore's outputs
EVALUATE = Outputs("report", "export")  # run_evaluation's outputs


@functools.cache
def problems() -> list[CD.Problem]:
    """The built-in problems with known answers (read at first use, not at import)."""
    return CD.load_problems() if CD.PROBLEMS_PATH.exists() else []


def path_html(p: CD.CotPath, greedy: bool) -> str:
    """One path as a coloured token strip under a line of its rank, answer and Delta."""
    meta = (f'<div class="meta"><b>#{p.rank + 1}</b> first token <code>{html.escape(repr(p.first_token))}</code> · '
            f'answer <b>{html.escape(p.answer) if p.answer is not None else "no answer found"}</b> · '
            f'Δ = <b>{p.delta:.3f}</b>{" · reasoning steps" if p.has_reasoning else ""}'
            f'{" · <i>greedy path</i>" if greedy else ""}</div>')
    if not p.tokens:
        return f'<div class="cot-path">{meta}<i>(empty: the path stopped at once)</i></div>'
    strip = plots.token_strip(p.tokens, p.token_gaps, label="top-1 − top-2 probability", lo=0.0, hi=1.0,
                              highlight=p.answer_span)
    return f'<div class="cot-path">{meta}{strip}</div>'


def _delta_bars(ex: CD.Exploration) -> go.Figure:
    by_answer = defaultdict(list)
    for p in ex.paths:
        by_answer[p.answer if p.answer is not None else "no answer"].append(p)
    fig = go.Figure()
    for answer, paths in by_answer.items():
        fig.add_trace(go.Bar(x=[f"#{p.rank + 1} {p.first_token!r}" for p in paths], y=[p.delta for p in paths],
                             name=f"answer {answer}", hovertemplate="%{x}<br>Δ %{y:.3f}<extra>" + answer + "</extra>"))
    fig.update_layout(title="Answer confidence Δ per path (bars coloured by answer)", yaxis_title="Δ", height=340,
                      xaxis={"categoryorder": "array", "categoryarray": [f"#{p.rank + 1} {p.first_token!r}"
                                                                         for p in ex.paths]},
                      margin={"l": 60, "r": 20, "t": 50, "b": 80})
    return fig


@guarded
@gpu
def run_explore(question: str, model: str, k: float, branch_step: float, max_tokens: float, answer_type: str,
                progress: gr.Progress = gr.Progress()):
    """Explore the top-k paths of one question: the outputs named in EXPLORE."""
    progress(0.1, desc="Decoding the k branches as one batch")
    ex = CD.explore(question, model or None, k=int(check_count(k, what="k", low=1, high=20)),
                    branch_step=check_count(branch_step, what="Branching step", low=0, high=limits().max_new_tokens),
                    max_new_tokens=check_count(max_tokens, what="Token limit", low=4, high=limits().max_new_tokens),
                    answer_type=answer_type, time_budget_s=limits().time_budget_s)
    votes = " · ".join(f"{a}: {v:.3f}" for a, v in sorted(ex.votes.items(), key=lambda kv: -kv[1])) or "none"
    none = "no answer found"
    summary = (f"**Greedy answer:** {ex.greedy_answer or none} · **Max path:** "
               f"{ex.max_path_answer or none} · **Aggregated:** {ex.aggregated_answer or none}"
               f"\n\nΔ summed per answer: {votes}. {len(ex.paths)} paths from `{ex.model}` in {ex.seconds:.1f} s"
               f"{f', branching after the greedy prefix {ex.prefix!r}' if ex.branch_step else ''}. "
               f"Answer type: {ex.answer_type}.")
    body = "".join(path_html(p, p.rank == 0) for p in ex.paths)
    rows = [[p.rank + 1, repr(p.first_token), p.answer or "", round(p.delta, 4), "yes" if p.has_reasoning else "",
             p.text] for p in ex.paths]
    export = export_csv("cot-paths", ["rank", "first_token", "answer", "delta", "reasoning", "text"], rows)
    return EXPLORE.pack(summary=summary, paths=body, chart=_delta_bars(ex), table=rows, export=export)


@guarded
@gpu
def run_evaluation(model: str, n_problems: float, k: float, max_tokens: float, sc_samples: float,
                   backend: str = "in-process", workers: float = 2, resume: bool = False,
                   progress: gr.Progress = gr.Progress()):
    """Accuracy of greedy, max path, aggregated and self-consistency on the first n built-in problems, as a
    sweep in-process or on Ray workers: streams the outputs named in EVALUATE (the report shows progress)."""
    n = check_count(n_problems, what="Number of problems", low=1, high=len(problems()))
    options = CD.sweep_options(model or None, k=k, max_new_tokens=check_count(
        max_tokens, what="Token limit", low=4, high=limits().max_new_tokens),
        sc_samples=check_count(sc_samples, what="Self-consistency samples", low=0, high=20))
    items = [CD.problem_item(p) for p in problems()[:n]]
    for line, res in stream_sweep("cot", items, options, backend, workers, resume, progress=progress,
                                  time_budget_s=max(limits().time_budget_s, 1800)):
        if res is None:
            yield EVALUATE.pack(report=line, export=None)
    ev = CD.from_sweep(res)
    table = "| method | accuracy | 95 % interval |\n|---|---|---|\n" + "\n".join(
        f"| {m} | {ev.accuracy[m]:.1%} | {ev.interval[m][0]:.1%} – {ev.interval[m][1]:.1%} |" for m in ev.accuracy)
    fmt = lambda x: f"**{x:.3f}**" if x == x else "(no such path)"  # noqa: E731 - NaN when no path qualifies
    failed = f" {failed_note(res.failed, 'problems')}" if res.failed else ""
    stopped = f" **Stopped early ({res.stopped}):** the figures cover the {ev.n} problems done." if res.stopped else ""
    md = (f"{table}\n\nMean Δ of paths with a correct answer {fmt(ev.delta_correct)}, with a wrong or no answer "
          f"{fmt(ev.delta_wrong)} (the paper: correct CoT paths are more confident). {ev.n} problems in "
          f"{ev.seconds:.0f} s.{stopped}{failed}\n\n{line}")
    yield EVALUATE.pack(report=md, export=export_dicts("cot-evaluation", ev.records) if ev.records else None)


def build() -> None:
    reg = intro(INTRO, NOTES)
    with gr.Row():
        model = gr.Dropdown(reg.lm_names(), value=reg.slots["base"], label="Model (the paper uses base models)")
        k = gr.Slider(1, 20, value=10, step=1, label="k (branches)")
        branch_step = gr.Slider(0, 32, value=0, step=1, label="Branch at step (0 = first token)")
        max_tokens = gr.Slider(8, min(256, limits().max_new_tokens), value=96, step=8, label="Token limit")
        answer_type = gr.Radio(["auto", "number", "free"], value="auto", label="Answer type",
                               info="free: read the answer after 'So the answer is'")
    with gr.Tabs():
        with gr.Tab("Explore a question"):
            question = gr.Textbox(label="Question", value=EXAMPLES[0], lines=2, max_length=2000)
            gr.Examples([[e] for e in EXAMPLES], inputs=[question], label="Examples")
            with gr.Row():
                run = gr.Button("Decode the paths", variant="primary")
                stop = gr.Button("Stop")
            summary = gr.Markdown()
            chart = gr.Plot(label="Δ per path")
            explain("Each path below, tokens shaded by the model's confidence at that step (top-1 minus top-2 "
                    "probability: orange is confident); the answer span is outlined. Hover a token for its value.")
            paths = gr.HTML()
            table = gr.Dataframe(headers=["rank", "first token", "answer", "Δ", "reasoning", "text"], wrap=True,
                                 interactive=False, label="Paths")
            export = gr.File(label="Paths (CSV)")
            event = run.click(run_explore, [question, model, k, branch_step, max_tokens, answer_type],
                              EXPLORE.wire(summary=summary, paths=paths, chart=chart, table=table, export=export),
                              api_name="cot_explore", **HEAVY)
            stop.click(None, None, None, cancels=[event])
        with gr.Tab("Evaluate on the built-in problems"):
            gr.Markdown(f"{len(problems())} generated problems with known answers (`assets/cot/problems.jsonl`, "
                        "rebuilt by `scripts/build_cot_problems.py`): arithmetic of one to three steps, some with "
                        "distractors, and a few year-parity and yes/no questions. Each problem takes tens of seconds "
                        "on a CPU: start with a few.")
            with gr.Row():
                n_problems = gr.Slider(1, max(len(problems()), 1), value=5, step=1, label="Problems (from the start)")
                sc = gr.Slider(0, 20, value=5, step=1, label="Self-consistency samples")
                run_eval = gr.Button("Evaluate", variant="primary")
                stop_eval = gr.Button("Stop")
            backend, workers, resume = sweep_controls()
            eval_md = gr.Markdown()
            eval_csv = gr.File(label="Per-problem results (CSV)")
            ev_event = run_eval.click(run_evaluation, [model, n_problems, k, max_tokens, sc, backend, workers, resume],
                                      EVALUATE.wire(report=eval_md, export=eval_csv), api_name="cot_evaluate", **HEAVY)
            stop_eval.click(None, None, None, cancels=[ev_event])
