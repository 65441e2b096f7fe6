"""World knowledge (EWoK): minimal pairs of contexts and targets; does the model use the concept in context?"""
from __future__ import annotations

import functools
import html
import math

import gradio as gr
import plotly.graph_objects as go

from backends import ewok as E
from backends.config import InputError, check_count, check_number, limits
from backends.decoding import Deadline
from tabs import plots
from tabs.common import HEAVY, Outputs, export_dicts, export_json, gpu, guarded
from tabs.ui import explain, intro

TITLE = "World knowledge"
SUMMARY = ("EWoK (Ivanova et al. 2024): minimal pairs where a concept (left/right, help/hinder, floats/sinks) decides "
           "which target fits which context; accuracy per domain and model, LogProbs beside CHOICE.")
INTRO = """
**Elements of World Knowledge** (Ivanova et al. 2024) tests whether a model *uses* a concept in context, not
whether it recalls facts. Each item has two contexts and two targets: C1 fits T1, C2 fits T2 (C1 "The piano is
in front of Ali. Ali turns left.", C2 "… turns right.", T1 "The piano is right of Ali.", T2 "… left of Ali.").
Comparing **one target across the two contexts** cancels how plausible or frequent the target is by itself.
**LogProbs** (the paper's main metric): log P(T | C) summed over the target's tokens; an item scores 1 if
P(T1|C1) > P(T1|C2) *and* P(T2|C2) > P(T2|C1), 0.5 if one holds, 0 if neither; **chance is 0.5**.
**CHOICE**: a prompt shows both contexts and one target and asks which context fits; the model's answer is
whichever label, " 1" or " 2", it finds likelier. The paper: humans about 0.95, the best model
(falcon-40b-instruct) about 0.80; social domains easiest, physical and spatial relations hardest; LogProbs beats
CHOICE, most of all for small models.
"""
SETS_TEXT = ("528 built-in items (`assets/ewok/items.jsonl`): 66 concept templates, 6 per domain over the paper's "
             "11 domains, each filled with 8 filler versions by `scripts/build_ewok_items.py` (EWoK-core itself is "
             "gated and not shipped; `assets/ewok/README.md` says how the items are built).")
EXAMPLES = [
    ["The piano is in front of Ali. Ali turns left.", "The piano is in front of Ali. Ali turns right.",
     "The piano is right of Ali.", "The piano is left of Ali."],
    ["Maria was carrying a heavy box up the stairs, and Tom took hold of the other end.",
     "Maria was carrying a heavy box up the stairs, and Tom put a chair in the way.",
     "Tom helped Maria.", "Tom hindered Maria."],
    ["The bowl is made of glass.", "The bowl is made of rubber.",
     "When it fell onto the stone floor, the bowl shattered.", "When it fell onto the stone floor, the bowl bounced."],
    ["Chen put the key in the drawer and left. While Chen was away, Sara moved it to the box.",
     "Chen put the key in the drawer. While Chen watched, Sara moved it to the box.",
     "Chen will look for the key in the drawer.", "Chen will look for the key in the box."],
    ["There were five crows on the fence, and then three of them flew away.",
     "There were five crows on the fence, and then three more landed on it.",
     "Now there are two crows on the fence.", "Now there are eight crows on the fence."],
]
METRIC_LABELS = {"LogProbs": "logprobs", "CHOICE": "choice"}
EVALUATE = Outputs("summary", "chart", "compare", "table", "csv", "json")
PAIR = Outputs("summary", "chart", "strips")


@functools.cache
def items() -> tuple[E.Item, ...]:
    return tuple(E.load_items()) if E.ITEMS_PATH.exists() else ()


@functools.cache
def notes() -> dict[str, str]:
    """The honest note per model profile, from assets/ewok/<profile>_note.md."""
    return {p: (E.ASSETS / f"{p}_note.md").read_text(encoding="utf-8") for p in ("tiny", "cpu")
            if (E.ASSETS / f"{p}_note.md").exists()}


# ----- figures -----------------------------------------------------------------------------------------


def _paper_lines(fig: go.Figure) -> None:
    fig.add_hline(y=E.CHANCE, line_dash="dash", line_color="grey", annotation_text="chance 0.5",
                  annotation_position="bottom right")
    fig.add_hline(y=E.PAPER["humans"], line_dash="dot", line_color="green", annotation_text="humans ~0.95 (paper)")
    fig.add_hline(y=E.PAPER["falcon-40b-instruct"], line_dash="dot", line_color="purple",
                  annotation_text="falcon-40b-instruct ~0.80 (paper)", annotation_position="bottom left")


def domain_chart(evals: list[E.Evaluation]) -> go.Figure:
    """Grouped bars: accuracy per domain, one bar per model and metric, with 95 % bootstrap intervals."""
    fig = go.Figure()
    for ev in evals:
        doms = list(ev.accuracy_by_domain)
        acc = [ev.accuracy_by_domain[d] for d in doms]
        lo = [a - ev.interval_by_domain[d][0] for d, a in zip(doms, acc)]
        hi = [ev.interval_by_domain[d][1] - a for d, a in zip(doms, acc)]
        fig.add_trace(go.Bar(x=doms, y=acc, name=f"{ev.model} · {_metric_name(ev.metric)}",
                             error_y={"type": "data", "symmetric": False, "array": hi, "arrayminus": lo},
                             customdata=[ev.n_by_domain[d] for d in doms],
                             hovertemplate="%{x}<br>accuracy %{y:.2f}<br>%{customdata} items<extra>%{fullData.name}"
                                           "</extra>"))
    fig.add_hline(y=E.CHANCE, line_dash="dash", line_color="grey", annotation_text="chance 0.5")
    fig.update_layout(barmode="group", title="Accuracy by domain (bars: 95 % bootstrap intervals over items)",
                      yaxis={"title": "accuracy (mean item score)", "range": [0, 1.05]}, height=430,
                      margin={"l": 60, "r": 20, "t": 50, "b": 120}, legend={"orientation": "h", "y": -0.45})
    return fig


def compare_chart(evals: list[E.Evaluation]) -> go.Figure:
    """Overall accuracy per model, LogProbs beside CHOICE, with the paper's figures as lines."""
    fig = go.Figure()
    for metric in E.METRICS:
        runs = [ev for ev in evals if ev.metric == metric]
        if runs:
            fig.add_trace(go.Bar(x=[ev.model for ev in runs], y=[ev.accuracy for ev in runs],
                                 name=_metric_name(metric),
                                 error_y={"type": "data", "symmetric": False,
                                          "array": [ev.interval[1] - ev.accuracy for ev in runs],
                                          "arrayminus": [ev.accuracy - ev.interval[0] for ev in runs]}))
    _paper_lines(fig)
    fig.update_layout(barmode="group", title="Overall accuracy: LogProbs vs CHOICE", height=360,
                      yaxis={"title": "accuracy", "range": [0, 1.05]}, margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig


def _metric_name(metric: str) -> str:
    return "LogProbs" if metric == "logprobs" else "CHOICE"


def domain_table(evals: list[E.Evaluation]) -> list[list]:
    """Rows: domain, then 'accuracy [lo, hi]' per model and metric; the last row is all domains."""
    doms = [d for d in E.DOMAINS if any(d in ev.accuracy_by_domain for ev in evals)]
    rows = []
    for d in doms:
        rows.append([d] + [_cell(ev.accuracy_by_domain.get(d), ev.interval_by_domain.get(d)) for ev in evals])
    rows.append(["all domains"] + [_cell(ev.accuracy, ev.interval) for ev in evals])
    return rows


def _cell(acc, ci) -> str:
    if acc is None or not math.isfinite(acc):
        return "–"
    return f"{acc:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def _headers(evals: list[E.Evaluation]) -> list[str]:
    return ["domain"] + [f"{ev.model} · {_metric_name(ev.metric)}" for ev in evals]


def _summary(evals: list[E.Evaluation], planned: int) -> str:
    lines = ["| model | metric | accuracy | 95 % interval | items | s/item |", "|---|---|---|---|---|---|"]
    for ev in evals:
        lines.append(f"| {ev.model} | {_metric_name(ev.metric)} | **{ev.accuracy:.3f}** | {ev.interval[0]:.2f} – "
                     f"{ev.interval[1]:.2f} | {ev.n}{'' if ev.complete else f' of {ev.n_requested} (time budget)'} "
                     f"| {ev.seconds_per_item:.2f} |")
    done = f"{len(evals)} of {planned} runs done." if len(evals) < planned else "All runs done."
    return ("\n".join(lines) + f"\n\n{done} Chance is 0.5; the paper: humans ~0.95, falcon-40b-instruct ~0.80; "
            "social interactions/properties easiest, physical and spatial relations hardest.")


# ----- callbacks ---------------------------------------------------------------------------------------


def _checked_choice(values, allowed, what: str) -> list[str]:
    values = list(values or [])
    if not values:
        raise InputError(f"Pick at least one {what}.")
    bad = [v for v in values if v not in allowed]
    if bad:
        raise InputError(f"Unknown {what} {', '.join(map(str, bad))}: choose from {', '.join(allowed)}.")
    return values


@guarded
@gpu
def run_evaluation(domains, per_domain, model_names, metrics, seed, progress: gr.Progress = gr.Progress()):
    """Accuracy per domain for each chosen model and metric (the outputs named in EVALUATE), streamed one run
    at a time so that a stopped evaluation keeps the runs it finished."""
    from backends.models import registry

    domains = _checked_choice(domains, list(E.DOMAINS), "domain")
    n = check_count(per_domain, what="Items per domain", low=1, high=48)
    names = _checked_choice(model_names, registry().lm_names(), "model")
    metrics = [METRIC_LABELS[m] for m in _checked_choice(metrics, list(METRIC_LABELS), "metric")]
    seed = int(check_number(seed, what="Seed", low=0, high=2**31 - 1))
    sample = E.sample_items(items(), domains=domains, per_domain=n, seed=seed)
    runs = [(m, k) for m in names for k in metrics]
    evals: list[E.Evaluation] = []
    budget = Deadline(limits().max_run_s)
    for i, (name, metric) in enumerate(runs):
        def report(f, msg, i=i):
            progress((i + f) / len(runs), desc=msg)
        report(0.0, f"Loading {name}")
        ev = E.evaluate_ewok(sample, name, metric=metric, progress=report, seed=seed,
                             time_budget_s=max(budget.remaining(), 0.0))
        evals.append(ev)
        yield _pack(evals, len(runs))
        if not ev.complete:
            break


def _pack(evals: list[E.Evaluation], planned: int) -> tuple:
    records = [r for ev in evals for r in ev.records]
    summary = {"runs": [{"model": ev.model, "metric": ev.metric, "n": ev.n, "accuracy": ev.accuracy,
                         "interval": list(ev.interval), "accuracy_by_domain": ev.accuracy_by_domain,
                         "interval_by_domain": {d: list(c) for d, c in ev.interval_by_domain.items()},
                         "seconds_per_item": ev.seconds_per_item} for ev in evals],
               "chance": E.CHANCE, "paper": {k: v for k, v in E.PAPER.items()}}
    return EVALUATE.pack(summary=_summary(evals, planned), chart=domain_chart(evals), compare=compare_chart(evals),
                         table=gr.Dataframe(value=domain_table(evals), headers=_headers(evals)),
                         csv=export_dicts("ewok-items", records, "per-item scores: t1c1 = log P(T1|C1) (LogProbs) "
                                          "or log P(' 1'|prompt with T1) (CHOICE)"),
                         json=export_json("ewok-summary", summary))


def pair_strips(p: E.PairResult) -> str:
    """The four continuations as token strips shaded by surprisal, with each token's gain from its context."""
    by = {s.label: s for s in p.scored}
    other = {"T1|C1": "T1|C2", "T1|C2": "T1|C1", "T2|C1": "T2|C2", "T2|C2": "T2|C1"}
    hi = max((-x for s in p.scored for x in s.logprobs), default=1.0)
    parts = []
    for s in p.scored:
        o = by[other[s.label]]
        gain = [a - b for a, b in zip(s.logprobs, o.logprobs)]
        strip = plots.token_strip(s.tokens, [-x for x in s.logprobs], label="surprisal −log p (nats)", lo=0.0,
                                  hi=hi, extra={"log p": s.logprobs, f"log p minus under {other[s.label][3:]}": gain})
        parts.append(f'<div class="ewok-pair"><div class="meta"><b>{s.label}</b> log P = <b>{s.total:.2f}</b> '
                     f'({html.escape(other[s.label])}: {o.total:.2f})</div>{strip}</div>')
    return "".join(parts)


def _pair_chart(p: E.PairResult) -> go.Figure:
    fig = go.Figure()
    for t, color in (("T1", "#3182bd"), ("T2", "#e66101")):
        scored = [s for s in p.scored if s.label.startswith(t)]
        fig.add_trace(go.Bar(x=[s.label[3:] for s in scored], y=[s.total for s in scored], name=f"log P({t} | ·)",
                             marker_color=color, text=[f"{s.total:.2f}" for s in scored], textposition="outside"))
    fig.update_layout(barmode="group", title="log P(target | context): each target should prefer its own context",
                      yaxis_title="log P (nats)", height=320, margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig


@guarded
@gpu
def run_pair(context1, context2, target1, target2, model, progress: gr.Progress = gr.Progress()):
    """Score one pair typed by the user: the outputs named in PAIR."""
    progress(0.2, desc="Scoring the four continuations and the CHOICE prompts")
    p = E.score_pair(context1, context2, target1, target2, model or None, time_budget_s=limits().time_budget_s)
    lp, ch = p.logprobs, p.choice
    ok = lambda b: "✓" if b else "✗"  # noqa: E731
    summary = (f"**Item score (LogProbs): {lp.score:g}** · {ok(lp.t1c1 > lp.t1c2)} T1 prefers C1 "
               f"({lp.t1c1:.2f} vs {lp.t1c2:.2f}) · {ok(lp.t2c2 > lp.t2c1)} T2 prefers C2 "
               f"({lp.t2c2:.2f} vs {lp.t2c1:.2f})\n\n"
               f"**CHOICE: {ch.score:g}** · with T1 the model picks context {1 if ch.t1c1 > ch.t1c2 else 2} "
               f"(log P ' 1' {ch.t1c1:.2f}, ' 2' {ch.t1c2:.2f}) · with T2 context {1 if ch.t2c1 > ch.t2c2 else 2} "
               f"(' 1' {ch.t2c1:.2f}, ' 2' {ch.t2c2:.2f})\n\n`{p.model}`, {p.seconds:.1f} s. An item scores 1 when "
               "both targets prefer their own context, 0.5 for one, 0 for neither (chance 0.5).")
    return PAIR.pack(summary=summary, chart=_pair_chart(p), strips=pair_strips(p))


# ----- layout --------------------------------------------------------------------------------------------


def build() -> None:
    reg = intro(INTRO, notes())
    lms = reg.lm_names()
    with gr.Tabs():
        with gr.Tab("Evaluate the built-in set"):
            gr.Markdown(SETS_TEXT)
            with gr.Row():
                domains = gr.CheckboxGroup(list(E.DOMAINS), value=list(E.DOMAINS), label="Domains")
            with gr.Row():
                per_domain = gr.Slider(1, 48, value=5, step=1, label="Items per domain (seeded sample)")
                seed = gr.Number(value=0, precision=0, label="Seed of the sample")
                metrics = gr.CheckboxGroup(list(METRIC_LABELS), value=["LogProbs", "CHOICE"], label="Metric")
            models = gr.CheckboxGroup(lms, value=[reg.slots["chat"]], label="Models (each runs on the same items)")
            with gr.Row():
                run = gr.Button("Evaluate", variant="primary")
                stop = gr.Button("Stop")
            summary = gr.Markdown()
            chart = gr.Plot(label="Accuracy by domain")
            explain("One bar per domain, model and metric: the mean item score (1, 0.5 or 0 per item), with a 95 % "
                    "bootstrap interval over the domain's items. Below the dashed line the model does worse than "
                    "chance. With a few items per domain the intervals are wide: compare domains only where they "
                    "do not overlap.")
            compare = gr.Plot(label="LogProbs vs CHOICE")
            explain("Overall accuracy per model, LogProbs beside CHOICE. The paper finds LogProbs (reading the "
                    "model's probabilities directly) better than asking the model to choose in a prompt, most of "
                    "all for small models; the dotted lines are the paper's humans and best model.")
            table = gr.Dataframe(headers=["domain"], interactive=False, wrap=True,
                                 label="Accuracy [95 % interval] by domain")
            with gr.Row():
                csv = gr.File(label="Per-item scores (CSV)")
                js = gr.File(label="Summary (JSON)")
            event = run.click(run_evaluation, [domains, per_domain, models, metrics, seed],
                              EVALUATE.wire(summary=summary, chart=chart, compare=compare, table=table, csv=csv,
                                            json=js), api_name="ewok_evaluate", **HEAVY)
            stop.click(None, None, None, cancels=[event])
        with gr.Tab("Score your own pair"):
            model = gr.Dropdown(lms, value=reg.slots["chat"], label="Model")
            with gr.Row():
                c1 = gr.Textbox(label="Context 1 (fits target 1)", value=EXAMPLES[0][0], lines=2, max_length=1000)
                c2 = gr.Textbox(label="Context 2 (fits target 2)", value=EXAMPLES[0][1], lines=2, max_length=1000)
            with gr.Row():
                t1 = gr.Textbox(label="Target 1", value=EXAMPLES[0][2], max_length=1000)
                t2 = gr.Textbox(label="Target 2", value=EXAMPLES[0][3], max_length=1000)
            gr.Examples(EXAMPLES, inputs=[c1, c2, t1, t2], label="Examples (one click fills the four boxes)")
            with gr.Row():
                score = gr.Button("Score the pair", variant="primary")
                stop_pair = gr.Button("Stop")
            pair_md = gr.Markdown()
            pair_chart = gr.Plot(label="The four log-probabilities")
            explain("Each target's tokens under each context, shaded by surprisal (−log p: orange is surprising). "
                    "Hover a token for its log p and how much likelier it is under this context than under the "
                    "other one: the words that carry the concept (left/right, helped/hindered) should gain most.")
            strips = gr.HTML()
            pair_event = score.click(run_pair, [c1, c2, t1, t2, model],
                                     PAIR.wire(summary=pair_md, chart=pair_chart, strips=strips),
                                     api_name="ewok_pair", **HEAVY)
            stop_pair.click(None, None, None, cancels=[pair_event])
