"""Sparse upcycling: dense MLPs become mixtures of copied experts; the budget comparison and the step-0 view."""
from __future__ import annotations

import gradio as gr
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from backends.config import InputError, check_count, limits
from backends.decoding import Deadline
from tabs.common import HEAVY, Outputs, export_csv, export_json, gpu, guarded
from tabs.ui import explain, intro

TITLE = "Sparse upcycling"
SUMMARY = ("Sparse upcycling (Komatsuzaki et al. 2023): dense MLPs become a mixture of copied experts with a new"
           " router, then continued training.")
INTRO = """
**Sparse upcycling** (Komatsuzaki et al. 2023) reuses the compute already spent on a dense model. Some of its MLP
layers (half of them in the paper) become **mixture-of-experts** layers, y = Σᵢ G(x)ᵢ Eᵢ(x), whose experts all
start as **exact copies** of the dense MLP; only the router W_g is new (random). Everything else is copied, and
training continues. Two routers: **top-K** (token choice), G(x) = Softmax(KeepTopK(x W_g, k)): each token picks
k experts whose weights sum to 1, so at step 0 the model computes exactly the dense function; **expert choice**,
S = Softmax(X W_g): each expert picks its top T = C·n/E tokens of a sequence, so a token may reach several
experts or none (then only the residual carries it): dropped tokens and unnormalised weights give an initial
drop in quality. The paper: for the same extra compute (about 50 % of the dense pretraining cost) upcycled
T5 and ViT models clearly beat continued dense training, and MoEs trained from scratch needed about 120 % of
the dense budget to catch up.
"""
SCALE_NOTE = """
**How far this is from the paper.** The paper upcycles T5 1.1 Base/Large/XL (C4, then SuperGLUE) and ViT-B/L
(JFT, ImageNet) to **32 experts**, for up to hundreds of thousands of TPU-core hours; SuperGLUE and ImageNet
are not shown here. Here the dense model is a **byte-level LLaMA of 140 k parameters** (2 layers x 64) trained on
State of the Union addresses for 1,000 steps of 1,024 bytes (about 1 M bytes), and the experiments compare
**held-out loss (nats per byte) against training FLOPs** (6 x active matrix weights x tokens), never wall-clock
time: on a CPU, dispatch overhead dominates and an MoE's per-expert gathers cost far more time than their FLOPs.
Top-K's router is trained with Switch's load-balancing loss (α = 0.01, added to the gradients only; the losses
shown are pure language-model losses). **Expert choice looks at every token of a sequence, later ones
included: in a decoder it is not causal** (the paper used it only in encoders, with top-2 in the T5 decoder);
it is offered to show dropped tokens and their cost, and its held-out losses benefit from seeing the future.

**What the default run shows** (measured, 8 experts top-2 on one of the two layers, 500 extra steps = 50 % of
B): seed 0, upcycled 1.314 nats per byte, dense continued 1.321, MoE from scratch 1.321 (from 1.427 at B);
seed 1, 1.328, 1.351, 1.337 (from 1.455). The upcycled model comes out ahead of both, as in the paper, by
0.01 to 0.02 nats per byte: two seeds on a tiny model, a small but consistent gain. The gain depends on how far
the dense model had trained: with B = 60
steps (the second example) continued dense training wins by 0.03, at B = 400 the two tie (+0.003). A barely
trained model gains more from cheap extra steps than from extra parameters; the paper starts from converged T5
checkpoints. Against the MoE from scratch upcycling wins at every budget tried (+0.10, +0.07, +0.01).
"""
COMPARE_EXPLAIN = ("The paper's core curve: held-out loss against cumulative training FLOPs. The dense model trains "
                   "to budget B (grey); from its checkpoint, the same extra compute goes to continued dense training "
                   "(blue) or to the upcycled MoE (orange), which starts where the dense model stopped (top-K: the "
                   "same loss; expert choice: a jump up, the initial drop). The MoE from scratch (green) gets B "
                   "plus the same extra. Lower is better; compare the curves' ends, which sit at equal FLOPs.")
TRAIN_EXPLAIN = ("Training loss per step of each run (the batches are the same for every run at a given step: one "
                 "seeded order). The continued runs restart the learning-rate schedule (warm-up, then cosine) from "
                 "the dense checkpoint, which explains a small bump after step 0.")
LOAD_EXPLAIN = ("Tokens each expert received on the held-out blocks, per MoE layer: the upcycled model's router at "
                "initialisation (random: uneven but harmless, as all experts are the same MLP), after training, "
                "and the MoE trained from scratch. With top-K each token fills k slots; with expert choice every "
                "expert takes exactly T tokens and the question is how many tokens nobody took.")
STEP0_EXPLAIN = ("Held-out loss (nats per token of the model's tokenizer) of the packaged model and three upcycled "
                 "copies, before any training. Top-K equals the dense model (its weights sum to 1 and every "
                 "token reaches k experts). Expert choice with unnormalised weights, the paper's setting for "
                 "language, scales each token's MLP output by the scores it received (about C/E of it at a random "
                 "router) and drops some tokens: a large initial drop. Normalised, only dropped tokens change.")
ROUTING_EXPLAIN = ("Per upcycled layer: the share of tokens no expert took (expert choice; top-K never drops), and "
                   "how uneven the load is (busiest expert over the mean; 1 = even). The router is random at this "
                   "point: this is what training starts from.")

ROUTER_CHOICES = [("top-K (token choice)", "top_k"), ("expert choice (not causal)", "expert_choice")]
SIZES = {"2 layers x 64 (default)": (2, 64), "4 layers x 128 (slower)": (4, 128), "6 layers x 192 (slow)": (6, 192)}
COLORS = {"dense": "#636363", "dense_continued": "#3182bd", "upcycled": "#e6550d", "moe_scratch": "#31a354"}
# settings: experts, top-k, router, capacity, layers, size, dense steps, extra steps, seed
EXAMPLES = [
    [8, 2, "top_k", 2.0, "every other", "2 layers x 64 (default)", 1000, 500, 0],
    [8, 2, "top_k", 2.0, "every other", "2 layers x 64 (default)", 60, 30, 0],
    [8, 2, "expert_choice", 2.0, "every other", "2 layers x 64 (default)", 60, 30, 0],
    [8, 2, "top_k", 2.0, "every other", "4 layers x 128 (slower)", 240, 120, 0],
]
EXAMPLE_LABELS = ["The default: B = 1000 steps, 8 experts, top-2 (about 5 minutes)",
                  "Short budget B = 60: dense continuation wins (under a minute)", "Expert choice router (short)",
                  "Wider model 4 x 128, B = 240 (about 8 minutes)"]
STEP0_EXAMPLES = [["smollm2-135m-instruct", 4, 2, 2.0, "every other", 8, 0],
                  ["smollm2-135m-instruct", 8, 2, 1.0, "1, 15, 29", 2, 0]]
STEP0_LABELS = ["SmolLM2, 4 experts, half the MLPs", "SmolLM2, 8 experts on 3 MLPs, C = 1: dropped tokens"]
COMPARE = Outputs("summary", "curve", "train", "load", "table", "csv", "json")
STEP0 = Outputs("summary", "losses", "routing", "table", "json")
TABLE_HEADERS = ["run", "steps", "FLOPs", "held-out loss", "parameters", "active per token", "s"]


# ----- figures --------------------------------------------------------------------------------------------


def curve_figure(cmp) -> go.Figure:
    """Held-out loss against cumulative FLOPs, one line per arm; B marked."""
    fig = go.Figure()
    for arm, c in cmp.curves.items():
        fig.add_trace(go.Scatter(x=c.eval_flops, y=c.eval_loss, mode="lines+markers", name=c.label,
                                 line={"color": COLORS[arm]},
                                 hovertemplate="%{x:.3g} FLOPs<br>held-out loss %{y:.4f}<extra>" + c.label +
                                               "</extra>"))
    dense = cmp.curves.get("dense")
    if dense and dense.eval_flops:
        fig.add_vline(x=dense.eval_flops[-1], line_dash="dot", line_color="grey", annotation_text="budget B")
    fig.update_layout(title="Held-out loss vs training FLOPs", xaxis_title="cumulative training FLOPs",
                      yaxis_title="held-out loss (nats per byte)", height=420, legend={"orientation": "h", "y": -0.2},
                      margin={"l": 60, "r": 20, "t": 50, "b": 60})
    return fig


def train_figure(cmp) -> go.Figure:
    fig = go.Figure()
    for arm, c in cmp.curves.items():
        fig.add_trace(go.Scatter(x=c.steps, y=c.losses, mode="lines", name=c.label, line={"color": COLORS[arm]}))
    fig.update_layout(title="Training loss per step", xaxis_title="step of the run", yaxis_title="loss (nats per byte)",
                      height=360, legend={"orientation": "h", "y": -0.25}, margin={"l": 60, "r": 20, "t": 50, "b": 60})
    return fig


def load_figure(routing: dict) -> go.Figure:
    """Grouped bars: tokens per expert, one panel per MoE layer, one colour per model state."""
    names = {"upcycled_init": ("upcycled, step 0", "#fdae6b"), "upcycled": ("upcycled, trained", "#e6550d"),
             "moe_scratch": ("MoE from scratch", "#31a354")}
    layers = sorted({r.layer for rs in routing.values() for r in rs})
    if not layers:
        fig = go.Figure()
        fig.update_layout(title="Expert load (after the upcycled run)", height=300)
        return fig
    fig = make_subplots(rows=1, cols=len(layers), subplot_titles=[f"layer {i}" for i in layers], shared_yaxes=True)
    for key, (label, color) in names.items():
        for col, layer in enumerate(layers, start=1):
            r = next((r for r in routing.get(key, []) if r.layer == layer), None)
            if r is None:
                continue
            fig.add_trace(go.Bar(x=[f"E{i}" for i in range(len(r.load))], y=r.load_share, name=label,
                                 marker_color=color, showlegend=col == 1, legendgroup=key,
                                 customdata=r.load, hovertemplate="%{x}: %{customdata} slots (%{y:.1%})<extra>" +
                                 label + "</extra>"), row=1, col=col)
    fig.update_layout(title="Expert load on the held-out blocks (share of token slots)", barmode="group", height=360,
                      legend={"orientation": "h", "y": -0.2}, margin={"l": 60, "r": 20, "t": 70, "b": 60})
    fig.update_yaxes(tickformat=".0%")
    return fig


def step0_loss_figure(view) -> go.Figure:
    fig = go.Figure(go.Bar(x=[v.label for v in view.variants], y=[v.heldout_loss for v in view.variants],
                           text=[f"{v.heldout_loss:.3f}" for v in view.variants], textposition="outside",
                           marker_color=["#636363", "#e6550d", "#9e9ac8", "#6a51a3"][: len(view.variants)]))
    lo = min(v.heldout_loss for v in view.variants)
    hi = max(v.heldout_loss for v in view.variants)
    fig.update_layout(title=f"{view.model}: held-out loss at step 0", yaxis_title="held-out loss (nats per token)",
                      yaxis={"range": [max(0.0, lo - 0.5), hi + 0.4 * (hi - lo) + 0.3]}, height=360,
                      margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig


def step0_routing_figure(view) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=["tokens no expert took", "busiest expert / mean load"])
    colors = {"top_k": "#e6550d", "expert_choice": "#9e9ac8"}
    for v in view.variants:
        if not v.routing:
            continue
        x = [r.layer for r in v.routing]
        color = "#6a51a3" if v.normalize else colors[v.router]
        fig.add_trace(go.Scatter(x=x, y=[r.dropped for r in v.routing], mode="lines+markers", name=v.label,
                                 line={"color": color}, legendgroup=v.label), row=1, col=1)
        fig.add_trace(go.Scatter(x=x, y=[r.max_over_mean for r in v.routing], mode="lines+markers", name=v.label,
                                 line={"color": color}, legendgroup=v.label, showlegend=False), row=1, col=2)
    fig.update_xaxes(title_text="layer")
    fig.update_yaxes(tickformat=".0%", row=1, col=1)
    fig.update_layout(title="Router statistics at step 0", height=360, legend={"orientation": "h", "y": -0.25},
                      margin={"l": 60, "r": 20, "t": 70, "b": 60})
    return fig


# ----- summaries and tables -------------------------------------------------------------------------------


def _fmt_delta(x: float) -> str:
    return f"{x:+.3f}" if x == x else "–"


def compare_summary(cmp) -> str:
    s, v = cmp.settings, cmp.verdict()
    d, m = cmp.counts["dense"], cmp.counts["moe"]
    lines = [f"Dense {s['config']['layers']} x {s['config']['hidden']} over bytes: {d['total']:,} parameters; the MoE "
             f"({s['n_experts']} experts, {'top-' + str(s['top_k']) if s['router'] == 'top_k' else 'expert choice'}"
             f", layers {', '.join(map(str, s['layers']))}) has {m['total']:,}, of which about {m['active']:,} act "
             f"per token ({m['matmul_active'] / d['matmul_active']:.2f}x the dense FLOPs per token). Steps: "
             + ", ".join(f"{cmp.curves[a].label if a in cmp.curves else a} {n}" for a, n in s["steps"].items())
             + f". Data: {cmp.data_source}."]
    if "gain_vs_dense_continued" in v:
        g = v["gain_vs_dense_continued"]
        word = "beats" if g > 0.005 else "trails" if g < -0.005 else "ties with"
        lines.append(f"**At equal extra FLOPs, the upcycled model {word} continued dense training: held-out loss "
                     f"{v['final_upcycled']:.3f} vs {v['final_dense_continued']:.3f} nats per byte "
                     f"(difference {_fmt_delta(g)}, positive favours upcycling).**")
    if "initial_drop" in v:
        lines.append(f"Step 0 of the upcycled model: {v['upcycled_step0_loss']:.3f} against the dense model's "
                     f"{v['final_dense']:.3f} at B (initial drop {_fmt_delta(v['initial_drop'])}).")
    if "gain_vs_moe_scratch" in v:
        g = v["gain_vs_moe_scratch"]
        lines.append(f"The MoE from scratch, given B plus the same extra compute, ends at {v['final_moe_scratch']:.3f}"
                     f" ({'worse' if g > 0 else 'better'} than upcycled by {abs(g):.3f}).")
    if cmp.stopped:
        lines.append(f"*Ended early ({cmp.stopped}): the figures cover the runs that finished.*")
    elif not cmp.complete:
        lines.append(f"*Running: {cmp.phase} ({cmp.seconds:.0f} s so far).*")
    else:
        lines.append(f"Done in {cmp.seconds:.0f} s. One seed on one small model: rerun with other seeds before "
                     "trusting a difference of a few hundredths.")
    return "\n\n".join(lines)


def compare_table(cmp) -> list[list]:
    rows = []
    for arm, c in cmp.curves.items():
        counts = cmp.counts["dense" if arm in ("dense", "dense_continued") else "moe"]
        rows.append([c.label, c.steps[-1] if c.steps else 0, f"{c.eval_flops[-1]:.3g}" if c.eval_flops else "0",
                     round(c.final_loss, 4), counts["total"], counts["active"], round(c.seconds, 1)])
    return rows


# ----- callbacks ------------------------------------------------------------------------------------------


def _size(size: str) -> tuple[int, int]:
    if size not in SIZES:
        raise InputError(f"Unknown model size {size!r}: choose one of {', '.join(SIZES)}.")
    return SIZES[size]


@guarded
@gpu
def run_compare(n_experts, top_k, router, capacity, layers, size, budget_steps, extra_steps, seed,
                progress: gr.Progress = gr.Progress()):
    """Dense to budget B, then dense continued / upcycled / MoE from scratch at equal extra FLOPs (the outputs
    named in COMPARE), streamed after every evaluation."""
    from backends.surgery import upcycling as U
    from backends.training import ScratchConfig

    n_layers, hidden = _size(size)
    e, k, router, c = U.check_settings(n_experts, top_k, router, capacity)
    chosen = U.parse_layers(layers, n_layers)
    budget = check_count(budget_steps, what="Dense budget (steps)", low=10, high=5000)
    extra = check_count(extra_steps, what="Extra steps", low=5, high=5000)
    seed = check_count(seed, what="Seed", low=0, high=2**31 - 1)
    progress(0.0, desc="Building the dense model and the SOTU blocks")

    def report(f, msg):
        progress(min(f, 1.0), desc=msg)

    last = None
    for cmp in U.compare_iter(ScratchConfig(layers=n_layers, hidden=hidden, heads=4), budget_steps=budget,
                              extra_steps=extra, n_experts=e, top_k=k, router=router, capacity=c, layers=chosen,
                              seed=seed, deadline=Deadline(limits().max_run_s), progress=report):
        last = cmp
        yield _pack_compare(cmp, files=False)
    if last is not None:
        yield _pack_compare(last, files=True)


def _pack_compare(cmp, *, files: bool) -> tuple:
    header, rows = cmp.curve_rows()
    return COMPARE.pack(summary=compare_summary(cmp), curve=curve_figure(cmp), train=train_figure(cmp),
                        load=load_figure(cmp.routing), table=compare_table(cmp),
                        csv=export_csv("upcycling-curves", header, rows, "held-out loss in nats per byte; flops "
                                       "cumulative from the dense model's start") if files else None,
                        json=export_json("upcycling", cmp.to_dict()) if files else None)


@guarded
@gpu
def run_step0(model, n_experts, top_k, capacity, layers, blocks, seed, progress: gr.Progress = gr.Progress()):
    """The surgery on a packaged model, no training: the outputs named in STEP0."""
    from backends.surgery import upcycling as U

    e, k, _, c = U.check_settings(n_experts, top_k, "top_k", capacity)
    blocks = check_count(blocks, what="Held-out blocks", low=1, high=32)
    seed = check_count(seed, what="Seed", low=0, high=2**31 - 1)
    view = U.step0_view(model or None, n_experts=e, top_k=k, capacity=c, layers=layers, seed=seed, blocks=blocks,
                        deadline=Deadline(limits().max_run_s), progress=lambda f, m: progress(f, desc=m))
    dense = view.variants[0]
    lines = [f"`{view.model}`, {view.n_tokens:,} held-out tokens ({view.data_source}); {len(view.settings['layers'])}"
             f" MLPs upcycled to {e} experts, no training, {view.seconds:.0f} s."]
    for v in view.variants[1:]:
        drop = sum(r.dropped for r in v.routing) / len(v.routing) if v.routing else 0.0
        lines.append(f"- **{v.label}**: {v.heldout_loss:.4f} ({_fmt_delta(v.heldout_loss - dense.heldout_loss)} vs "
                     f"dense {dense.heldout_loss:.4f}); {drop:.1%} of tokens dropped on average; "
                     f"{v.counts['total']:,} parameters, about {v.counts['active']:,} active per token.")
    table = [[v.label, round(v.heldout_loss, 4), v.counts["total"], v.counts["active"],
              round(sum(r.dropped for r in v.routing) / len(v.routing), 4) if v.routing else 0.0]
             for v in view.variants]
    return STEP0.pack(summary="\n".join(lines), losses=step0_loss_figure(view), routing=step0_routing_figure(view),
                      table=table, json=export_json("upcycling-step0", view.to_dict()))


# ----- layout ---------------------------------------------------------------------------------------------


def _float_models(reg) -> list[str]:
    """The packaged causal LMs that run with float weights on a CPU (int8 and 4-bit layers cannot become
    trainable experts); read from the specs, without touching torch."""
    from backends.models import HUB

    out = []
    for n in reg.lm_names():
        spec = reg.spec(n)
        weights = spec.weights if spec.weights != "auto" else spec.cpu_weights
        if spec.source != HUB and weights not in ("int8", "nf4"):
            out.append(n)
    return out


def build() -> None:
    reg = intro(INTRO)
    explain(SCALE_NOTE)
    with gr.Tabs():
        with gr.Tab("Budget comparison (tiny model)"):
            gr.Markdown("A tiny dense byte-level model trains to budget B on SOTU; the same extra compute then goes "
                        "three ways. The default (2 x 64 model, 8 experts, top-2, every other MLP, 1000 + 500 steps) "
                        "took about 5 minutes on two busy cores; the short-budget example under a minute.")
            with gr.Row():
                n_experts = gr.Slider(2, 16, value=8, step=1, label="Experts E")
                top_k = gr.Slider(1, 4, value=2, step=1, label="Top-k (top-K router)")
                router = gr.Radio(ROUTER_CHOICES, value="top_k", label="Router")
                capacity = gr.Number(2.0, label="Capacity factor C (expert choice)", minimum=0.01, maximum=16)
            with gr.Row():
                layers = gr.Textbox("every other", label="MoE layers ('every other', 'all' or indices like 1, 3)")
                size = gr.Dropdown(list(SIZES), value=list(SIZES)[0], label="Dense model")
                budget = gr.Number(1000, precision=0, label="Dense budget B (steps)")
                extra = gr.Number(500, precision=0, label="Extra steps of the upcycled model")
                seed = gr.Number(0, precision=0, label="Seed")
            inputs = [n_experts, top_k, router, capacity, layers, size, budget, extra, seed]
            ex = gr.Examples(EXAMPLES, inputs=inputs, example_labels=EXAMPLE_LABELS,
                             label="Examples (one click runs them)")
            with gr.Row():
                run = gr.Button("Run the comparison", variant="primary")
                stop = gr.Button("Stop")
            summary = gr.Markdown()
            with gr.Row():
                with gr.Column(scale=3):
                    curve = gr.Plot(label="Held-out loss vs FLOPs")
                with gr.Column(scale=1):
                    explain(COMPARE_EXPLAIN)
            with gr.Row():
                with gr.Column(scale=3):
                    train = gr.Plot(label="Training loss")
                with gr.Column(scale=1):
                    explain(TRAIN_EXPLAIN)
            with gr.Row():
                with gr.Column(scale=3):
                    load = gr.Plot(label="Expert load")
                with gr.Column(scale=1):
                    explain(LOAD_EXPLAIN)
            table = gr.Dataframe(headers=TABLE_HEADERS, interactive=False, label="Runs")
            explain("Parameters: all weights; active per token: what one token passes through (k experts per MoE "
                    "layer, C on average for expert choice). FLOPs count 6 x active matrix weights per token.")
            with gr.Row():
                csv = gr.File(label="Held-out curves (CSV)")
                js = gr.File(label="Everything (JSON)")
            outputs = COMPARE.wire(summary=summary, curve=curve, train=train, load=load, table=table, csv=csv, json=js)
            event = run.click(run_compare, inputs, outputs, api_name="upcycling_compare", **HEAVY)
            ex_event = ex.load_input_event.then(run_compare, inputs, outputs, api_name="upcycling_compare_example",
                                                api_visibility="undocumented", **HEAVY)
            stop.click(None, None, None, cancels=[event, ex_event])
        with gr.Tab("Surgery on a packaged model (step 0)"):
            gr.Markdown("The surgery alone on a trained model: upcycle it three ways and measure the held-out loss "
                        "before any training, with what each router does. SmolLM2-135M upcycled to 4 experts on "
                        "half its 30 layers is about 250M parameters; a few tens of seconds on a CPU.")
            models = _float_models(reg)
            with gr.Row():
                model = gr.Dropdown(models, value="smollm2-135m-instruct" if "smollm2-135m-instruct" in models
                                    else (models[0] if models else None), label="Model (float weights)")
                s_experts = gr.Slider(2, 16, value=4, step=1, label="Experts E")
                s_top_k = gr.Slider(1, 4, value=2, step=1, label="Top-k")
                s_capacity = gr.Number(2.0, label="Capacity factor C (expert choice)", minimum=0.01, maximum=16)
            with gr.Row():
                s_layers = gr.Textbox("every other", label="MoE layers")
                s_blocks = gr.Slider(1, 32, value=8, step=1, label="Held-out blocks of 128 tokens")
                s_seed = gr.Number(0, precision=0, label="Seed (router)")
            s_inputs = [model, s_experts, s_top_k, s_capacity, s_layers, s_blocks, s_seed]
            s_ex = gr.Examples(STEP0_EXAMPLES, inputs=s_inputs, example_labels=STEP0_LABELS,
                               label="Examples (one click runs them)")
            with gr.Row():
                s_run = gr.Button("Upcycle and measure", variant="primary")
                s_stop = gr.Button("Stop")
            s_summary = gr.Markdown()
            with gr.Row():
                with gr.Column(scale=3):
                    s_losses = gr.Plot(label="Held-out loss at step 0")
                with gr.Column(scale=1):
                    explain(STEP0_EXPLAIN)
            with gr.Row():
                with gr.Column(scale=3):
                    s_routing = gr.Plot(label="Router statistics")
                with gr.Column(scale=1):
                    explain(ROUTING_EXPLAIN)
            s_table = gr.Dataframe(headers=["model", "held-out loss", "parameters", "active per token",
                                            "dropped share"], interactive=False, label="Step 0")
            s_json = gr.File(label="Everything (JSON)")
            s_outputs = STEP0.wire(summary=s_summary, losses=s_losses, routing=s_routing, table=s_table, json=s_json)
            s_event = s_run.click(run_step0, s_inputs, s_outputs, api_name="upcycling_step0", **HEAVY)
            s_ex_event = s_ex.load_input_event.then(run_step0, s_inputs, s_outputs, api_name="upcycling_step0_example",
                                                    api_visibility="undocumented", **HEAVY)
            s_stop.click(None, None, None, cancels=[s_event, s_ex_event])
