"""Self-Discover: the model composes a reasoning structure per task (SELECT, ADAPT, IMPLEMENT), then fills it in
per instance; evaluated against direct answering, zero-shot CoT and CoT with self-consistency at matched calls."""
from __future__ import annotations

import html
import json

import gradio as gr
import plotly.graph_objects as go

from backends.config import InputError, check_count, check_text, limits
from tabs.common import HEAVY, Outputs, export_dicts, export_json, gpu, guarded
from tabs.ui import explain, intro

TITLE = "Self-Discover"
SUMMARY = ("Self-Discover (Zhou et al. 2024): the model picks, adapts and implements reasoning modules as a JSON"
           " structure for a task, then fills it in per instance; against direct, CoT and CoT with self-consistency.")
INTRO = """
**Self-Discover** (Zhou et al. 2024): instead of one fixed way of reasoning (chain of thought, decomposition,
step back...), the model composes a plan for a *task* from 39 generic **reasoning modules**, once, from a few
unlabelled examples of it, in three LM calls: **SELECT** the useful modules, **ADAPT** them to the task,
**IMPLEMENT** them as a key-value **JSON structure** of steps. Every instance of the task is then solved in one
call that fills the structure in step by step and answers. Stage 1 is paid once per task, so over n instances
Self-Discover costs 1 + 3/n calls per instance, against k for self-consistency over k chains of thought: the
paper's compute argument (GPT-4 and PaLM 2-L: up to 32 % better than CoT on BBH, and better than CoT-SC with
10-40x fewer calls).
"""
SCALE_NOTE = """
**How far this is from the paper.** The paper runs GPT-4, GPT-3.5, PaLM 2-L and Llama2-70B on the 23 BBH tasks,
T4D and MATH. Here the models are small local ones (on the cpu profile Qwen2.5-Coder-1.5B-Instruct in int8, on
the tiny profile SmolLM2-135M), and the tasks are this project's arithmetic word problems plus three BBH-style
tasks generated with known answers (boolean expressions, shuffled objects, date arithmetic). The modules are the
paper's 39, in this project's words; the meta-prompts follow its three stages in our wording; a plan that is not
valid JSON (or copies the format example) is retried once with the parse error shown to the model.

**What it shows at this scale.** The whole pipeline, every call verbatim, and the call counting. Not the paper's
gain: the small models do not compose useful plans. On the cpu profile (`bench/bench_self_discover.py --n 6
--cap-min 22 --threads 1`, two tasks side by side on 2 cores, 5 instances each in the cap), Qwen2.5-Coder-1.5B
selected *Causes*, *Obstacles* and *Indicators* for arithmetic and implemented a three-step plan ("Factors that
led to the situation described in the problem", "Obstacles", "Indicators") with no step that computes anything;
for boolean expressions it listed modules 1 to 18 in order, then copied the format example's plan twice, so no
usable structure came of it. That is the failure the method note warns about for small models.
"""
TINY_NOTE = """*On the tiny profile* the chat model is SmolLM2-135M-Instruct: it runs every stage, but rarely writes a
usable JSON plan or a right answer; use it to see the mechanics, or pick a larger model where the profile has one.
"""
NOTES = {"tiny": TINY_NOTE}

CUSTOM = "your own examples"
ANSWER_TYPES = ["number", "choice", "date"]
DISCOVER = Outputs("summary", "calls", "structure", "json")  # run_discover's outputs
SOLVE = Outputs("summary", "call", "filled")  # run_solve's outputs
TASK = Outputs("examples", "question", "answer_type", "options")  # pick_task's outputs
EVALUATE = Outputs("report", "plot", "table", "records", "csv", "json")  # run_evaluation's outputs
TABLE_HEADERS = ["method", "accuracy", "95 % interval", "LM calls per instance", "seconds per instance"]
RECORD_HEADERS = ["#", "question", "gold", "method", "answer", "correct", "calls"]
QUICK_MODEL = "smollm2-135m-instruct"

PLOT_EXPLAIN = """
**Accuracy against LM calls per instance**, one point per method, with its 95 % Wilson interval. Direct answering
and zero-shot CoT cost one call; Self-Discover one call plus its three (or four, after a retry) stage-1 calls
shared by the n instances; CoT-SC with k samples costs k. The paper's claim reads as Self-Discover sitting above
CoT and CoT-SC while to the left of CoT-SC. With a handful of instances the intervals are wide: points whose bars
overlap are not shown to differ.
"""
EVAL_NOTE = """
**Measured on the cpu profile** (Qwen2.5-Coder-1.5B-Instruct int8, `bench/bench_self_discover.py`, one thread per
task, 5 instances per task, CoT-SC at matched calls k = 2):

| task | direct | CoT | Self-Discover | CoT-SC (k = 2) |
|---|---|---|---|---|
| arithmetic | 2/5 | 3/5 | 2/5 at 1.6 calls per instance | **5/5** at 2 calls |
| boolean expressions | 5/5 | 5/5 | 0/5: no usable plan | 5/5 |

Stage 1 took 2.7 minutes on arithmetic and 6.4 minutes on boolean expressions (with a retry); an instance of all
four methods about 3 minutes. **Self-Discover does not beat the baselines here**: the plans the 1.5B model writes
do not fit the tasks (see the note above), and with 5 instances the intervals span most of [0, 1]. The compute
side holds by construction: with n instances the structure costs 3/n calls per instance, while self-consistency
pays k for every instance.
"""



def example_evals(chat: str, quick: str) -> list[list]:
    """task, model, n, examples, sc_k, seed, token limit, time cap"""
    return [["boolean_expressions", quick, 1, 1, "matched", 0, 12, 300],
            ["arithmetic", chat, 10, 3, "matched", 0, 0, 1800],
            ["arithmetic", chat, 5, 3, "2, 5", 0, 0, 1800],
            ["shuffled_objects", chat, 5, 3, "matched", 0, 0, 1800]]


EXAMPLE_EVAL_LABELS = ["Quick: 1 boolean expression, 135M model, 12-token replies (the mechanics only)",
                       "Arithmetic, 10 problems, the chat model (the measured run; about 30 min on 2 cores)",
                       "Arithmetic, 5 problems, CoT-SC at k = 2 and 5",
                       "Shuffled objects, 5 problems"]


def example_discovers(chat: str, quick: str) -> list[list]:
    return [["arithmetic", quick, 12], ["date_arithmetic", chat, 0], ["shuffled_objects", chat, 0]]


EXAMPLE_DISCOVER_LABELS = ["Quick: arithmetic, 135M model, 12-token replies (the mechanics only)",
                           "Date arithmetic, the chat model", "Shuffled objects, the chat model"]


def _sd():
    from backends import self_discover as SD

    return SD


def _cap(tokens) -> int | None:
    """The token limit per reply: 0 or empty means each stage's own limit."""
    if tokens in (None, "", 0):
        return None
    return check_count(tokens, what="Token limit per reply", low=0, high=1024) or None


def _model(model) -> str | None:
    if model in (None, ""):
        return None
    from backends.models import registry

    name = check_text(model, what="Model")
    if name not in registry().lm_names():
        raise InputError(f"Unknown model {name!r:.60}; choose one of the list.")
    return name


def _examples(text) -> list[str]:
    lines = [ln.strip() for ln in check_text(text, what="Task examples").splitlines() if ln.strip()]
    return lines


def _options(answer_type, options) -> tuple[str, list[str]]:
    if answer_type not in ANSWER_TYPES:
        raise InputError(f"Answer type must be one of {', '.join(ANSWER_TYPES)}.")
    opts = [o.strip() for o in str(options or "").split(",") if o.strip()]
    if answer_type == "choice" and not opts:
        raise InputError("A choice answer needs its options, comma-separated (e.g. True, False).")
    return answer_type, opts


# ----- task picker -----------------------------------------------------------------------------------------------


@guarded
def pick_task(task):
    """The task's held-out examples (the evaluation's stage-1 examples), a question of it, its answer type."""
    SD = _sd()
    if task == CUSTOM:
        return TASK.pack(examples="", question="", answer_type="number", options="")
    t = SD.load_task(task)
    first = t.problems[0]
    opts = first.meta.get("options") or (["True", "False"] if t.answer_type == "choice" else [])
    return TASK.pack(examples="\n".join(p.question for p in t.problems[-3:]), question=first.question,
                     answer_type=t.answer_type, options=", ".join(map(str, opts)))


# ----- stage 1 -----------------------------------------------------------------------------------------------------


def calls_html(calls) -> str:
    """Every call verbatim: its stage, the prompt as sent (collapsed) and the reply."""
    parts = []
    for i, c in enumerate(calls, 1):
        reply = c.replies[0] if len(c.replies) == 1 else "\n\n".join(
            f"--- sample {j + 1} ---\n{r}" for j, r in enumerate(c.replies))
        parts.append(
            f"<div class='sd-call'><b>Call {i}: {html.escape(c.stage.upper())}</b> ({c.count} LM call"
            f"{'s' if c.count > 1 else ''}, {c.seconds:.1f} s)"
            f"<details><summary>Prompt, verbatim ({len(c.prompt):,} characters)</summary>"
            f"<pre style='white-space:pre-wrap'>{html.escape(c.prompt)}</pre></details>"
            f"<div>Reply:</div><pre style='white-space:pre-wrap'>{html.escape(reply)}</pre></div>")
    return "\n".join(parts) or "<i>No calls yet.</i>"


def discover_summary(s) -> str:
    lines = [f"`{s.model}`: {s.n_calls} LM calls ({', '.join(c.stage for c in s.calls)}), {s.seconds:.0f} s."]
    if s.selected:
        lines.append("**SELECT** chose: " + "; ".join(x.split(":")[0] for x in s.selected) + ".")
    if s.adapted:
        lines.append("**ADAPT** wrote " + f"{len(s.adapted)} task-specific instructions.")
    for note in s.notes:
        lines.append(f"*{note}*")
    if s.ok:
        lines.append(f"**IMPLEMENT** gave a plan of {len(s.structure)} steps (below, as JSON). It is the task's: "
                     "Stage 2 reuses it for every instance without another stage-1 call.")
    else:
        lines.append(f"**No usable structure.** {s.error}")
    return "\n\n".join(lines)


@guarded
@gpu
def run_discover(task, model, examples, tokens, progress: gr.Progress = gr.Progress()):
    """Stage 1 on the examples shown (SELECT, ADAPT, IMPLEMENT; one retry if the JSON plan does not parse)."""
    SD = _sd()
    if task != CUSTOM and task not in SD.task_names():
        raise InputError(f"Unknown task {task!r:.60}; choose one of the list.")
    ex = _examples(examples)
    progress(0.0, desc="SELECT, ADAPT, IMPLEMENT")
    s = SD.discover(ex, _model(model), time_budget_s=limits().max_run_s, max_new_tokens=_cap(tokens))
    plan = json.dumps(s.structure, indent=2) if s.ok else ""
    return DISCOVER.pack(summary=discover_summary(s), calls=calls_html(s.calls), structure=plan,
                         json=export_json("self-discover-structure", s.to_dict()))


@guarded
@gpu
def run_solve(structure, question, answer_type, options, model, tokens, progress: gr.Progress = gr.Progress()):
    """Stage 2: one call fills the structure (as shown, possibly edited) for the question and answers."""
    SD = _sd()
    plan = SD.plan_structure(structure if structure not in (None, "") else "")
    answer_type, opts = _options(answer_type, options)
    progress(0.0, desc="Filling the structure in")
    sol = SD.solve(plan, question, _model(model), answer_type=answer_type, options=opts or None,
                   time_budget_s=limits().time_budget_s * 4, max_new_tokens=_cap(tokens))
    summary = (f"**Answer: {sol.answer if sol.answer is not None else 'none found'}** ({sol.n_calls} LM call, "
               f"{sol.seconds:.1f} s). " + ("The model filled the structure in (below)." if sol.filled else
                                            "*The reply held no parsable filled-in JSON; the answer was read from "
                                            "its text.*"))
    return SOLVE.pack(summary=summary, call=calls_html(sol.calls),
                      filled=json.dumps(sol.filled, indent=2) if sol.filled else "")


# ----- evaluation --------------------------------------------------------------------------------------------------


def _sc_k(text) -> list[int] | None:
    text = str(text or "").strip().lower()
    if text in ("", "matched"):
        return None
    try:
        ks = [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise InputError("CoT-SC samples: 'matched' or numbers separated by commas, e.g. 2, 5.") from None
    return ks


def accuracy_figure(ev) -> go.Figure:
    fig = go.Figure()
    colors = {"direct": "#969696", "cot": "#3182bd", "self-discover": "#e6550d"}
    for m in ev.methods:
        x, y = ev.calls_per_instance[m], ev.accuracy[m]
        if ev.n == 0:
            continue
        lo, hi = ev.interval[m]
        fig.add_trace(go.Scatter(x=[x], y=[y], mode="markers+text", name=m, text=[m], textposition="top center",
                                 marker={"size": 13, "color": colors.get(m, "#31a354")},
                                 error_y={"type": "data", "symmetric": False, "array": [hi - y],
                                          "arrayminus": [y - lo]}))
    fig.update_layout(title=f"{ev.task} on {ev.model}: accuracy vs LM calls per instance (n = {ev.n})",
                      xaxis_title="LM calls per instance", yaxis_title="accuracy", yaxis={"range": [-0.05, 1.1]},
                      height=380, margin={"l": 60, "r": 20, "t": 50, "b": 40}, showlegend=False)
    return fig


def evaluation_table(ev) -> list[list]:
    return [[m, round(ev.accuracy[m], 3) if ev.n else None,
             f"[{ev.interval[m][0]:.2f}, {ev.interval[m][1]:.2f}]", round(ev.calls_per_instance[m], 2) if ev.n
             else None, round(ev.seconds_per_instance[m], 1) if ev.n else None] for m in ev.methods]


def evaluation_records(ev) -> list[dict]:
    return [{"#": i + 1, "question": r["question"], "gold": r["gold"], "method": m, "answer": r[m],
             "correct": r[f"{m} correct"], "calls": r[f"{m} calls"]}
            for i, r in enumerate(ev.records) for m in ev.methods]


def evaluation_report(ev, n: int, done: bool) -> str:
    s = ev.structure
    head = (f"**{ev.task}** on `{ev.model}`: one structure ({'ok' if s.ok else 'none: ' + s.error}) from "
            f"{len(s.task_examples)} held-out examples in {s.n_calls} stage-1 calls, reused for every instance.")
    if not done:
        return head + f"\n\n*Running: {ev.n}/{n} instances, {ev.seconds:.0f} s so far.*"
    lines = [head]
    if ev.n and not s.ok:
        lines.append("**Self-Discover could not run: the model wrote no usable plan**, so it scores 0 while its "
                     f"stage-1 calls still count ({ev.calls_per_instance['self-discover']:.2f} per instance). Direct "
                     f"{ev.accuracy['direct']:.0%}, CoT {ev.accuracy['cot']:.0%}.")
    elif ev.n:
        sd, cot, direct = ev.accuracy["self-discover"], ev.accuracy["cot"], ev.accuracy["direct"]
        sc = [m for m in ev.methods if m.startswith("cot-sc")]
        word = "beats" if sd > cot else "ties with" if sd == cot else "trails"
        lines.append(f"**Self-Discover {word} zero-shot CoT here: {sd:.0%} against {cot:.0%}** (direct {direct:.0%}"
                     + "".join(f", {m} {ev.accuracy[m]:.0%}" for m in sc) + f") on {ev.n} instances, at "
                     f"{ev.calls_per_instance['self-discover']:.2f} calls per instance against "
                     + ", ".join(f"{ev.calls_per_instance[m]:.0f} for {m}" for m in sc) + ".")
        if sd <= cot:
            lines.append("At this scale the paper's gain does not show: the small model fills the plan in without "
                         "reasoning better than a plain chain of thought.")
    if ev.stopped:
        lines.append(f"*Ended early ({ev.stopped}): the figures cover the {ev.n} instances done.*")
    lines.append(f"Done in {ev.seconds:.0f} s.")
    return "\n\n".join(lines)


@guarded
@gpu
def run_evaluation(task, model, n, n_examples, sc_k, seed, tokens, cap_s, progress: gr.Progress = gr.Progress()):
    """Direct, CoT, Self-Discover and CoT-SC on n instances of a built-in task, streamed after each instance."""
    SD = _sd()
    n = check_count(n, what="Instances", low=1, high=50)
    seed = check_count(seed, what="Seed", low=0, high=2**31 - 1)
    cap = min(float(check_count(cap_s, what="Time cap (s)", low=10, high=3600)), limits().max_run_s)
    progress(0.0, desc="Discovering the task's structure")
    last = None
    for ev in SD.evaluate_iter(task, _model(model), n=n, n_examples=n_examples, sc_k=_sc_k(sc_k), seed=seed,
                               time_budget_s=cap, max_new_tokens=_cap(tokens)):
        last = ev
        progress(ev.n / n, desc=f"{ev.n}/{n} instances")
        yield _pack_evaluation(ev, n, done=False)
    if last is not None:
        yield _pack_evaluation(last, n, done=True)


def _pack_evaluation(ev, n: int, *, done: bool) -> tuple:
    records = evaluation_records(ev)
    return EVALUATE.pack(report=evaluation_report(ev, n, done), plot=accuracy_figure(ev),
                         table=evaluation_table(ev), records=[[r[h] for h in RECORD_HEADERS] for r in records],
                         csv=export_dicts("self-discover", records, f"{ev.task} on {ev.model}") if done else None,
                         json=export_json("self-discover-evaluation", ev.to_dict()) if done else None)


# ----- layout ------------------------------------------------------------------------------------------------------


def build() -> None:
    from backends import self_discover as SD

    reg = intro(INTRO, NOTES)
    explain(SCALE_NOTE)
    models = reg.lm_names()
    chat = reg.resolve(None, "chat")
    quick = QUICK_MODEL if QUICK_MODEL in models else chat
    tasks = SD.task_names()
    with gr.Tabs():
        with gr.Tab("Discover and solve"):
            with gr.Row():
                task = gr.Dropdown(tasks + [CUSTOM], value="arithmetic", label="Task")
                model = gr.Dropdown(models, value=chat, label="Model")
                tokens = gr.Number(0, precision=0, label="Token limit per reply (0: each stage's own)",
                                   minimum=0, maximum=1024)
            first = SD.load_task("arithmetic")
            examples = gr.Textbox("\n".join(p.question for p in first.problems[-3:]), lines=4,
                                  label=f"Task examples, one per line (1 to {SD.MAX_EXAMPLES}, unlabelled)")
            d_ex = gr.Examples(example_discovers(chat, quick), inputs=[task, model, tokens],
                               example_labels=EXAMPLE_DISCOVER_LABELS, label="Examples (one click runs them)")
            with gr.Row():
                d_run = gr.Button("Discover the structure (stage 1)", variant="primary")
                d_stop = gr.Button("Stop")
            d_summary = gr.Markdown()
            with gr.Row():
                with gr.Column(scale=3):
                    structure = gr.Code(language="json", label="Reasoning structure (JSON; you may edit it)",
                                        interactive=True)
                with gr.Column(scale=2):
                    explain("The structure belongs to the task: every instance below is solved with this one "
                            "plan, no stage-1 call again. Edit it to try your own plan, or paste one discovered "
                            "by another model (the paper's transfer experiment).")
            d_calls = gr.HTML(label="Stage-1 calls, verbatim")
            d_json = gr.File(label="Structure and calls (JSON)")
            gr.Markdown("#### Stage 2: solve an instance with the structure")
            with gr.Row():
                question = gr.Textbox(first.problems[0].question, lines=2, label="Question", scale=3)
                answer_type = gr.Radio(ANSWER_TYPES, value="number", label="Answer type")
                options = gr.Textbox("", label="Options (choice answers, comma-separated)")
            with gr.Row():
                s_run = gr.Button("Solve with the structure (stage 2)", variant="primary")
                s_stop = gr.Button("Stop")
            s_summary = gr.Markdown()
            filled = gr.Code(language="json", label="The structure as the model filled it in", interactive=False)
            s_call = gr.HTML()
            task.change(pick_task, [task], TASK.wire(examples=examples, question=question, answer_type=answer_type,
                                                     options=options), api_name="self_discover_task")
            d_outputs = DISCOVER.wire(summary=d_summary, calls=d_calls, structure=structure, json=d_json)
            d_inputs = [task, model, examples, tokens]
            d_event = d_run.click(run_discover, d_inputs, d_outputs, api_name="self_discover_discover", **HEAVY)
            d_ex_event = d_ex.load_input_event.then(
                pick_task, [task], TASK.wire(examples=examples, question=question, answer_type=answer_type,
                                             options=options), api_name="self_discover_task_example",
                api_visibility="undocumented").then(
                run_discover, d_inputs, d_outputs, api_name="self_discover_discover_example",
                api_visibility="undocumented", **HEAVY)
            d_stop.click(None, None, None, cancels=[d_event, d_ex_event])
            s_event = s_run.click(run_solve, [structure, question, answer_type, options, model, tokens],
                                  SOLVE.wire(summary=s_summary, call=s_call, filled=filled),
                                  api_name="self_discover_solve", **HEAVY)
            s_stop.click(None, None, None, cancels=[s_event])
        with gr.Tab("Evaluation"):
            gr.Markdown("One structure per task, discovered from held-out examples and reused for n instances; "
                        "each instance is answered directly, with zero-shot CoT, with the structure, and with "
                        "CoT-SC at k samples ('matched': Self-Discover's calls per instance, rounded up).")
            with gr.Row():
                e_task = gr.Dropdown(tasks, value="boolean_expressions", label="Task")
                e_model = gr.Dropdown(models, value=quick, label="Model")
                e_n = gr.Slider(1, 50, value=1, step=1, label="Instances n")
                e_examples = gr.Slider(1, SD.MAX_EXAMPLES, value=1, step=1, label="Task examples for stage 1")
            with gr.Row():
                e_k = gr.Textbox("matched", label="CoT-SC samples k ('matched' or e.g. 2, 5)")
                e_seed = gr.Number(0, precision=0, label="Seed (CoT-SC samples)")
                e_tokens = gr.Number(12, precision=0, label="Token limit per reply (0: each stage's own)",
                                     minimum=0, maximum=1024)
                e_cap = gr.Number(300, precision=0, label="Time cap (s)", minimum=10, maximum=3600)
            e_inputs = [e_task, e_model, e_n, e_examples, e_k, e_seed, e_tokens, e_cap]
            e_ex = gr.Examples(example_evals(chat, quick), inputs=e_inputs, example_labels=EXAMPLE_EVAL_LABELS,
                               label="Examples (one click runs them)")
            with gr.Row():
                e_run = gr.Button("Run the evaluation", variant="primary")
                e_stop = gr.Button("Stop")
            e_report = gr.Markdown()
            with gr.Row():
                with gr.Column(scale=3):
                    e_plot = gr.Plot(label="Accuracy vs LM calls per instance")
                with gr.Column(scale=2):
                    explain(PLOT_EXPLAIN)
                    explain(EVAL_NOTE)
            e_table = gr.Dataframe(headers=TABLE_HEADERS, interactive=False, label="Methods")
            e_records = gr.Dataframe(headers=RECORD_HEADERS, interactive=False, label="Per instance", wrap=True)
            with gr.Row():
                e_csv = gr.File(label="Per instance (CSV)")
                e_json = gr.File(label="Everything, every call verbatim (JSON)")
            e_outputs = EVALUATE.wire(report=e_report, plot=e_plot, table=e_table, records=e_records, csv=e_csv,
                                      json=e_json)
            e_event = e_run.click(run_evaluation, e_inputs, e_outputs, api_name="self_discover_evaluate", **HEAVY)
            e_ex_event = e_ex.load_input_event.then(run_evaluation, e_inputs, e_outputs,
                                                    api_name="self_discover_evaluate_example",
                                                    api_visibility="undocumented", **HEAVY)
            e_stop.click(None, None, None, cancels=[e_event, e_ex_event])
