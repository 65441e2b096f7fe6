"""Depth up-scaling (SOLAR): stack two trimmed copies of a model's layers, then continue pretraining."""
from __future__ import annotations

import gradio as gr
import plotly.graph_objects as go

from backends.config import InputError, check_count, check_number, limits
from backends.decoding import Deadline
from backends.surgery import dus as D
from tabs.common import HEAVY, Outputs, export_csv, export_json, gpu, guarded
from tabs.ui import explain, intro

TITLE = "Depth up-scaling"
SUMMARY = ("SOLAR (Kim et al. 2023): depth up-scaling by stacking two trimmed copies of a model, then continued "
           "pretraining.")
INTRO = """
**Depth up-scaling** (SOLAR 10.7B, Kim et al. 2023) makes a deeper model from a trained one without new kinds of
module: take two copies of the base's n layers, drop the **last m** layers of copy A and the **first m** of copy B,
and stack A on B, giving **s = 2(n − m)** layers (SOLAR: Mistral-7B's n = 32, m = 8 → 48 layers, 10.7B parameters).
The result is an ordinary dense model of the same architecture. Trimming matters at the **seam**: base layer m+1
now reads the output of base layer n−m instead of layer m, a smaller jump than the naive 2n stack (layer n's output
into layer 1). Right after scaling the model is worse than its base; **continued pretraining** recovers it, and the
two steps together are the method.
"""
SCALE = """
**This scale against the paper's.** SOLAR grew a 7B model to 10.7B and continued pretraining on a large corpus,
then tuned it (instruction tuning, DPO alignment, model merging) and reported the H6 average (66.04 for the
pretrained 10.7B, 74.20 for the Instruct merge). None of that fits on two CPU cores: here the **recovery curves**
come from a byte-level base of 8 layers × 64 wide (0.46M parameters) trained for a few minutes on State of the
Union addresses, and the packaged SmolLM2-135M (30 layers) shows the **step-0 drop** only (evaluation, no training).
No H6, no SFT/DPO/merge, no 7B → 10.7B. The paper has no control that continues the base on the same tokens; this
tab adds one ("base, continued"), and a model of the up-scaled depth trained from scratch on the same tokens.
"""
DEFAULT_NOTE = """
**What the default run shows** (8-layer base pretrained 300 steps, then 150 steps for each run; measured here with
`bench/bench_dus.py`). Seed 0: the base ends its pretraining at perplexity 6.97; right after the surgery DUS (12
layers) is at 7.46 and the naive 16-layer stack at 7.59; after 150 more steps on the same batches DUS 6.41, naive
6.39, the base continued 6.42, and a 12-layer model from scratch 17.9. Seed 1: base 7.07; step 0 DUS 7.82, naive
7.60; end DUS 6.57, naive 6.45, base continued 6.55, scratch 17.7. So both surgeries cost perplexity at step 0 and
recover within a few hundred thousand bytes, but the paper's order (DUS below the naive stack) flips with the seed
at this size, although DUS's seam always joins far more alike layers (cosine 0.88 and 0.80 against 0.32 and 0.29).
Against the base continued on the same tokens, the control the paper does not run, neither deeper model is ahead
by more than 1.5 %. A default run takes 90 s on two quiet cores (3.5 to 5 minutes when the machine is shared);
the quick example under a minute.
"""
EXPLAIN_CURVES = ("Held-out perplexity (bytes, held-out SOTU addresses, lower is better) against the training tokens "
                  "each model's weights have seen, the base's pretraining included: the grey curve is the base being "
                  "pretrained; at its end DUS, the naive stack and the base itself continue on the **same batches in "
                  "the same order**; the from-scratch model of the DUS depth starts at zero tokens. The first point "
                  "of each continued curve is step 0, before any training: the cost of the surgery.")
EXPLAIN_HEAT = ("Mean cosine similarity between the residual stream after base layer i and after base layer j on "
                "held-out text ('emb' is the embeddings, the input of layer 1). After stacking, base layer m+1 reads "
                "what layer n−m wrote where it was trained on what layer m wrote: the ○ marks that pair for the "
                "chosen m, the × the naive stack's pair (layer n's output into layer 1). The closer to 1, the smaller "
                "the seam's surprise.")
EXPLAIN_STEP0 = ("Perplexity on held-out SOTU text of the packaged model, of its up-scaled copy and of the naive 2n "
                 "stack, all untrained: depth up-scaling costs some perplexity at step 0 (the paper: 'performance "
                 "falls below the base'), the naive stack more. Recovering takes continued pretraining, which a 135M "
                 "model cannot afford here; the first sub-tab does it at a tiny scale.")
COLORS = {"pretrain": "#888888", "dus": "#d62728", "naive": "#ff7f0e", "base": "#1f77b4", "scratch": "#2ca02c"}
ARM_CHOICES = {"DUS": "dus", "naive 2n stack": "naive", "base, continued": "base", "from scratch": "scratch"}
WIDTHS = [32, 64, 128]
# layers, m, base steps, continued steps, seed
EXAMPLES = [[8, 2, 300, 150, 0], [4, 1, 60, 30, 0], [8, 4, 300, 150, 1]]
EXAMPLE_LABELS = ["the default: 8 layers, m = 2 (n/4), 300 + 150 steps",
                  "quick: 4 layers, m = 1, 60 + 30 steps (under a minute)",
                  "deeper trim: 8 layers, m = 4 (8 layers again), seed 1"]
RUN = Outputs("summary", "curves", "zoom", "heat", "table", "csv", "json")
STEP0 = Outputs("summary", "bars", "heat", "json")


# ----- figures -----------------------------------------------------------------------------------------


def curves_figure(e: D.Experiment) -> go.Figure:
    """Held-out perplexity against tokens seen: the base's pretraining, then each arm from where it starts."""
    fig = go.Figure()
    b = e.base
    fig.add_trace(go.Scatter(x=b.eval_tokens, y=b.eval_ppl, name=b.label, mode="lines+markers",
                             line={"color": COLORS["pretrain"]}))
    offset = b.eval_tokens[-1] if b.eval_tokens else 0
    for c in e.curves:
        start = 0 if c.arm == "scratch" else offset
        fig.add_trace(go.Scatter(x=[start + t for t in c.eval_tokens], y=c.eval_ppl, name=c.label,
                                 mode="lines+markers", line={"color": COLORS.get(c.arm)},
                                 customdata=c.eval_steps,
                                 hovertemplate="continued step %{customdata}<br>ppl %{y:.3f}<extra>%{fullData.name}"
                                               "</extra>"))
    if e.curves:
        fig.add_vline(x=offset, line_dash="dot", line_color="grey", annotation_text="surgery: continued runs start")
    fig.update_layout(title="Held-out perplexity against training tokens", height=440,
                      xaxis_title="training tokens seen by the weights (base pretraining included)",
                      yaxis={"title": "held-out perplexity (bytes, log scale)", "type": "log"},
                      margin={"l": 60, "r": 20, "t": 50, "b": 40}, legend={"orientation": "h", "y": -0.2})
    return fig


def zoom_figure(e: D.Experiment) -> go.Figure:
    """The continued runs alone against their own training tokens, on a linear scale: the differences between
    DUS, the naive stack and the base continued are a few percent, invisible beside the pretraining curve."""
    fig = go.Figure()
    for c in e.curves:
        if c.arm == "scratch":
            continue
        fig.add_trace(go.Scatter(x=c.eval_tokens, y=c.eval_ppl, name=c.label, mode="lines+markers",
                                 line={"color": COLORS.get(c.arm)}))
    fig.update_layout(title="Zoom: the continued runs (step 0 = right after the surgery)", height=360,
                      xaxis_title="continued-pretraining tokens (the same batches for every run)",
                      yaxis_title="held-out perplexity (bytes)", margin={"l": 60, "r": 20, "t": 50, "b": 40},
                      legend={"orientation": "h", "y": -0.25})
    return fig


def heat_figure(sim: D.Similarity, m: int) -> go.Figure:
    """The similarity matrix with the seam of DUS (m) and of the naive stack marked."""
    n = sim.n
    labels = ["emb"] + [f"L{i}" for i in range(1, n + 1)]
    fig = go.Figure(go.Heatmap(z=sim.matrix, x=labels, y=labels, zmin=min(0.0, float(sim.matrix.min())), zmax=1,
                               colorscale="Viridis", colorbar={"title": "cos"},
                               hovertemplate="after %{y} vs after %{x}: %{z:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[labels[m]], y=[labels[n - m]], mode="markers", name=f"DUS seam (m = {m})",
                             marker={"symbol": "circle-open", "size": 16, "color": "white", "line": {"width": 3}},
                             hovertemplate=f"DUS: layer {m + 1} reads L{n - m} instead of {labels[m]}: "
                                           f"cos {sim.seam(m):.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[labels[0]], y=[labels[n]], mode="markers", name="naive stack seam (m = 0)",
                             marker={"symbol": "x", "size": 14, "color": "red"},
                             hovertemplate=f"naive: layer 1 reads L{n} instead of emb: cos {sim.seam(0):.3f}"
                                           "<extra></extra>"))
    fig.update_layout(title=f"{sim.model}: cosine between layers' outputs (seam: DUS {sim.seam(m):.2f}, naive "
                            f"{sim.seam(0):.2f})", height=480, xaxis={"title": "layer j", "constrain": "domain"},
                      yaxis={"title": "layer i", "autorange": "reversed", "scaleanchor": "x"},
                      margin={"l": 60, "r": 20, "t": 50, "b": 40}, legend={"orientation": "h", "y": -0.15})
    return fig


def step0_figure(r: D.Step0) -> go.Figure:
    names = [f"base ({r.plan.n} layers)", f"DUS m={r.plan.m} ({r.plan.s} layers)"]
    ppl = [r.base_ppl, r.dus_ppl]
    colors = [COLORS["base"], COLORS["dus"]]
    if r.naive_ppl is not None and r.plan.m != 0:
        names.append(f"naive stack ({2 * r.plan.n} layers)")
        ppl.append(r.naive_ppl)
        colors.append(COLORS["naive"])
    fig = go.Figure(go.Bar(x=names, y=ppl, marker_color=colors, text=[f"{p:.2f}" for p in ppl],
                           textposition="outside"))
    fig.update_layout(title=f"{r.model}: held-out perplexity at step 0 (no training)", height=360,
                      yaxis={"title": "perplexity (log scale)", "type": "log"},
                      margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig


def _params(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n < 1e9 else f"{n / 1e9:.2f}B"


def final_table(e: D.Experiment) -> list[list]:
    rows = []
    for c in (e.base, *e.curves):
        if not c.eval_loss:
            continue
        rows.append([c.label, c.layers, _params(c.params), c.eval_steps[-1], c.eval_tokens[-1],
                     round(c.eval_ppl[0], 3), round(c.eval_ppl[-1], 3), f"{c.eval_flops[-1]:.3g}",
                     round(c.seconds, 1)])
    return rows


TABLE_HEADERS = ["run", "layers", "params", "steps", "tokens", "ppl at step 0", "ppl at the end", "FLOPs",
                 "seconds"]


def plan_text(layers, m) -> str:
    """The resulting layer count for the chosen n and m (or what to change)."""
    try:
        n = check_count(layers, what="Base layers", low=1, high=64)
        order = D.layer_plan(n, int(m) if m is not None else None)
    except (InputError, TypeError, ValueError) as e:
        return f"⚠ {e}"
    m = n - len(order) // 2
    a, b = f"1–{n - m}", f"{m + 1}–{n}"
    return (f"n = {n}, m = {m} → **s = 2(n − m) = {len(order)} layers**: copy A keeps base layers {a}, copy B "
            f"{b}. At the seam base layer {m + 1} reads layer {n - m}'s output (a jump of {n - 2 * m - 1} layers; "
            f"the naive stack jumps {n - 1}, layer {n} into layer 1).")


def _summary(e: D.Experiment) -> str:
    p, fin = e.plan, e.final()
    lines = [f"**{e.stage}** · {e.seconds:.0f} s · {e.source}",
             f"Base: {p.n} layers, {_params(p.base_params)} parameters → DUS (m = {p.m}): **{p.s} layers, "
             f"{_params(p.params)}** (naive stack: {2 * p.n} layers)."]
    step0 = {c.arm: c.eval_ppl[0] for c in e.curves if c.eval_ppl}
    if "base" in fin or step0:
        parts = [f"{D.ARM_LABELS[a]} {step0[a]:.3f}" for a in ("base", "dus", "naive") if a in step0]
        if parts:
            lines.append("Held-out perplexity at step 0 (right after the surgery): " + ", ".join(parts) + ".")
    if e.done and fin:
        parts = [f"{D.ARM_LABELS[a]} **{fin[a]:.3f}**" for a in D.ARMS if a in fin]
        lines.append(f"After {e.config.steps} continued steps: " + ", ".join(parts) + ".")
        if "dus" in fin and "base" in fin:
            better = fin["dus"] < fin["base"]
            lines.append(f"DUS ends {'below' if better else 'above'} the base continued on the same tokens "
                         f"({fin['dus'] / fin['base']:.3f}× its perplexity)" +
                         ("." if better else ": at this scale the extra depth has not paid for itself yet."))
        if "dus" in fin and "naive" in fin:
            lines.append(f"DUS vs the naive 2n stack: {fin['dus']:.3f} vs {fin['naive']:.3f} with "
                         f"{p.s} vs {2 * p.n} layers.")
    if e.similarity is not None:
        lines.append(f"Seam similarity (trained base, cosine of the residual streams joined): DUS "
                     f"{e.similarity.seam(p.m):.3f}, naive {e.similarity.seam(0):.3f}.")
    return "\n\n".join(lines)


# ----- callbacks ---------------------------------------------------------------------------------------


def _config(layers, m, base_steps, steps, seed, hidden, lr, arms) -> D.ExperimentConfig:
    hidden = check_count(hidden, what="Width", low=16, high=512)
    arms = list(arms or [])
    bad = [a for a in arms if a not in ARM_CHOICES]
    if not arms or bad:
        raise InputError(f"Pick at least one run among {', '.join(ARM_CHOICES)}.")
    steps = check_count(steps, what="Continued-pretraining steps", low=1, high=2000)
    return D.ExperimentConfig(layers=check_count(layers, what="Base layers", low=2, high=16),
                              m=check_count(m, what="m", low=0, high=15), hidden=hidden, heads=4,
                              base_steps=check_count(base_steps, what="Base pretraining steps", low=1, high=3000),
                              steps=steps, eval_every=max(1, steps // 10),
                              lr=check_number(lr, what="Learning rate", low=1e-5, high=0.05),
                              seed=int(check_number(seed, what="Seed", low=0, high=2**31 - 1)),
                              arms=tuple(ARM_CHOICES[a] for a in arms), seq_len=64, eval_blocks=16).checked()


@guarded
@gpu
def run_experiment(layers, m, base_steps, steps, seed, hidden, lr, arms, progress: gr.Progress = gr.Progress()):
    """Pretrain a tiny base, up-scale it, continue every run on the same tokens: the outputs named in RUN,
    streamed after each held-out evaluation."""
    cfg = _config(layers, m, base_steps, steps, seed, hidden, lr, arms)
    progress(0.0, desc="Preparing the held-out text")
    for e in D.experiment(cfg, deadline=Deadline(limits().max_run_s),
                          progress=lambda f, msg: progress(f, desc=msg)):
        yield _pack(e)


def _pack(e: D.Experiment) -> tuple:
    fig = curves_figure(e)
    heat = heat_figure(e.similarity, e.plan.m) if e.similarity is not None else go.Figure()
    header, rows = e.rows()
    return RUN.pack(summary=_summary(e), curves=fig, zoom=zoom_figure(e), heat=heat,
                    table=gr.Dataframe(value=final_table(e), headers=TABLE_HEADERS),
                    csv=export_csv("dus-curves", header, rows, "held-out evaluations of every run; tokens count "
                                   "each run's own training (the continued runs start from the pretrained base)"),
                    json=export_json("dus-experiment", e.to_dict()))


@guarded
@gpu
def run_step0(model, m, blocks, naive, progress: gr.Progress = gr.Progress()):
    """Evaluation only: a packaged model's held-out perplexity before and right after depth up-scaling."""
    from backends.models import registry

    name = model or None
    if name is not None and name not in registry().lm_names():
        raise InputError(f"Unknown model {name!r}: choose from {', '.join(registry().lm_names())}.")
    m = check_count(m, what="m", low=0, high=63)
    blocks = check_count(blocks, what="Held-out blocks", low=1, high=64)
    r = D.step0(name, m, blocks=blocks, naive=bool(naive), progress=lambda f, msg: progress(f, desc=msg),
                deadline=Deadline(limits().max_run_s))
    p = r.plan
    naive_txt = (f", naive {2 * p.n}-layer stack **{r.naive_ppl:.2f}**" if r.naive_ppl is not None and p.m else "")
    summary = (f"`{r.model}`: {p.n} layers, {_params(p.base_params)} → DUS m = {p.m}: **{p.s} layers, "
               f"{_params(p.params)}**. Held-out perplexity before training: base **{r.base_ppl:.2f}**, DUS "
               f"**{r.dus_ppl:.2f}** ({r.dus_ppl / r.base_ppl:.2f}×){naive_txt}. Seam similarity: DUS "
               f"{r.similarity.seam(p.m):.3f} (layer {p.n - p.m} → {p.m + 1}), naive {r.similarity.seam(0):.3f}. "
               f"{r.tokens:,} tokens of {r.source}; {r.seconds:.1f} s.")
    return STEP0.pack(summary=summary, bars=step0_figure(r), heat=heat_figure(r.similarity, p.m),
                      json=export_json("dus-step0", r.to_dict()))


# ----- layout --------------------------------------------------------------------------------------------


def build() -> None:
    reg = intro(INTRO)
    explain(SCALE)
    with gr.Tabs():
        with gr.Tab("Continued pretraining (tiny base)"):
            gr.Markdown(DEFAULT_NOTE)
            with gr.Row():
                layers = gr.Slider(2, 16, value=8, step=1, label="Base layers n")
                m = gr.Slider(0, 15, value=2, step=1, label="m: layers trimmed from each copy (0: naive stack)")
                base_steps = gr.Slider(10, 3000, value=300, step=10, label="Base pretraining steps")
                steps = gr.Slider(10, 2000, value=150, step=10, label="Continued steps (every run)")
                seed = gr.Number(value=0, precision=0, label="Seed")
            plan_md = gr.Markdown(plan_text(8, 2))
            with gr.Accordion("More settings", open=False):
                with gr.Row():
                    hidden = gr.Dropdown(WIDTHS, value=64, label="Width (residual size; 4 heads)")
                    lr = gr.Number(value=5e-4, label="Continued-pretraining learning rate (every run)")
                    arms = gr.CheckboxGroup(list(ARM_CHOICES), value=list(ARM_CHOICES), label="Runs")
            ex = gr.Examples(EXAMPLES, inputs=[layers, m, base_steps, steps, seed], example_labels=EXAMPLE_LABELS,
                             label="Examples (one click runs them)")
            with gr.Row():
                run = gr.Button("Run the experiment", variant="primary")
                stop = gr.Button("Stop")
            summary = gr.Markdown()
            curves = gr.Plot(label="Held-out perplexity")
            explain(EXPLAIN_CURVES)
            zoom = gr.Plot(label="The continued runs")
            explain("The same curves for DUS, the naive stack and the base continued, on their own: at step 0 "
                    "the cost of each surgery against the base, then how fast each recovers on the same batches. "
                    "Differences of a percent or two move with the settings: try another seed before reading much "
                    "into them.")
            table = gr.Dataframe(headers=TABLE_HEADERS, interactive=False, label="Each run at its start and end")
            heat = gr.Plot(label="Layer similarity of the trained base")
            explain(EXPLAIN_HEAT)
            with gr.Row():
                csv = gr.File(label="Curves (CSV)")
                js = gr.File(label="Everything (JSON)")
            inputs = [layers, m, base_steps, steps, seed, hidden, lr, arms]
            outputs = RUN.wire(summary=summary, curves=curves, zoom=zoom, heat=heat, table=table, csv=csv, json=js)
            layers.change(plan_text, [layers, m], plan_md, api_name="dus_plan", show_progress="hidden")
            m.change(plan_text, [layers, m], plan_md, api_name="dus_plan_m", api_visibility="undocumented",
                     show_progress="hidden")
            event = run.click(run_experiment, inputs, outputs, api_name="dus_experiment", **HEAVY)
            ex_event = ex.load_input_event.then(run_experiment, inputs, outputs, api_name="dus_example",
                                                api_visibility="undocumented", **HEAVY)
            stop.click(None, None, None, cancels=[event, ex_event])
        with gr.Tab("Step 0 on a packaged model"):
            lms = reg.lm_names()
            default = D.DEFAULT_MODEL if D.DEFAULT_MODEL in lms else reg.slots["chat"]
            with gr.Row():
                model = gr.Dropdown(lms, value=default, label="Model")
                m0 = gr.Slider(0, 40, value=7, step=1, label="m (SmolLM2: 30 layers, m = 7 gives 46)")
                blocks = gr.Slider(1, 64, value=4, step=1, label="Held-out blocks of 128 tokens")
                naive = gr.Checkbox(value=True, label="Also the naive 2n stack")
            with gr.Row():
                go_btn = gr.Button("Evaluate before and after", variant="primary")
                stop0 = gr.Button("Stop")
            s0_md = gr.Markdown()
            bars = gr.Plot(label="Perplexity at step 0")
            explain(EXPLAIN_STEP0)
            heat0 = gr.Plot(label="Layer similarity of the packaged model")
            explain(EXPLAIN_HEAT)
            js0 = gr.File(label="Result (JSON)")
            ev0 = go_btn.click(run_step0, [model, m0, blocks, naive],
                               STEP0.wire(summary=s0_md, bars=bars, heat=heat0, json=js0), api_name="dus_step0",
                               **HEAVY)
            stop0.click(None, None, None, cancels=[ev0])
