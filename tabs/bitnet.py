"""1.58-bit weights (BitNet b1.58): ternary weights, 8-bit activations; after training vs from scratch."""
from __future__ import annotations

import gradio as gr
import plotly.graph_objects as go

from backends.config import InputError, check_count, check_number, limits
from backends.decoding import Deadline
from tabs.common import HEAVY, Outputs, export_csv, export_dicts, export_json, gpu, guarded
from tabs.ui import explain, intro

TITLE = "1.58-bit weights"
SUMMARY = ("BitNet b1.58 (Ma et al. 2024): ternary absmean weights and 8-bit activations; post-training "
           "ternarisation against training 1.58-bit from scratch.")
INTRO = r"""
**BitNet b1.58** (Ma et al. 2024) trains LLMs whose every linear weight is **−1, 0 or +1** (log2 3 ≈ 1.58 bits)
times one scale per matrix, with **8-bit activations**. Each `nn.Linear` becomes a **BitLinear**:
γ = mean|W|, W̃ = RoundClip(W / (γ + ε), −1, 1); per token η = max|x|, x̃ = round(x · 128 / η) clipped to int8;
**y = W̃ x̃ · γη / 128**, so a matrix product needs only additions and subtractions (zeros are skipped) and one
multiply per output. Training keeps full-precision latent weights and passes gradients through the roundings
(straight-through estimator); a norm inside BitLinear (here a parameter-free RMSNorm) steadies the
activations. The paper's claim: trained this way **from scratch**, b1.58 matches FP16 LLaMA perplexity from
3B parameters up (700M: 12.33 vs 12.87; 1.3B: 11.25 vs 11.29; 3B: 10.04 vs 9.91) at 3.55× less memory and
2.71× lower latency. Python: `from backends.surgery import ternarize; q = ternarize(model)`;
`backends.surgery.bitnet.twins(...)`, `.ptq(...)`, `.storage(...)` run the three panels below.
"""
SCALE_NOTE = """
**Scale here vs the paper.** The paper trains 700M-3.9B models on 100B tokens; the twins here have 50K-210K
non-embedding parameters over bytes and see 150 × 8 × 128 ≈ 150K tokens: about 10,000× smaller and 600,000×
fewer tokens, so the 3B crossover is out of reach and the gap-vs-size trend is measured far below it. What the
default run showed (widths 32/48/64, 150 steps, seed 0; about 7 minutes on a busy two-core machine): both twins
learn, and the 1.58-bit twin's held-out perplexity is 1.06×, 1.15× and 1.27× its FP twin's: the gap *grows*
with width here instead of closing (a higher rate for the b1.58 twin, 6e-3, narrows it to 1.03× and 1.20× at
widths 32 and 64, not away). Ternarising each barely trained FP twin afterwards costs about as much (1.05×,
1.09×, 1.21×): such young weights are still near their Gaussian start. On a model trained to the end the
picture is the paper's: SmolLM2-135M ternarised after training goes from perplexity about 50 to over 10^7
(8 held-out blocks: 52 -> 2 × 10^8 with 8-bit activations), which is why the method trains quantised.
Speed and energy are *not* shown: PyTorch on a CPU still runs the ternary weights as float matrix products
(no ternary kernels are installed), so the savings are counted, not timed.
"""
TWINS_EXPLAIN = ("Held-out loss (nats per byte, SOTU addresses never trained on) against training steps. Same "
                 "colour, same width: solid is the full-precision twin, dashed the 1.58-bit twin (W1.58A8, "
                 "BitLinear's RMSNorm). Both start from the same initial latent weights and see the same batches. "
                 "Faint lines are training losses. A dashed line that stays above the solid one is the cost of "
                 "ternary weights at this size and budget.")
GAP_EXPLAIN = ("Perplexity ratio b1.58 / FP (1 = no gap) against non-embedding parameters, log scale. Circles: "
               "the twins trained here; squares: the trained FP twin ternarised afterwards (no retraining); "
               "diamonds: the paper (700M, 1.3B, 3B), where the gap closes and then reverses. The paper predicts the "
               "ratio falls as models grow; at this toy scale, read off what it does.")
PTQ_EXPLAIN = ("Held-out perplexity of the trained model, then of its copy with every linear weight ternarised "
               "(absmean, no retraining), with and without 8-bit activations. Log scale: ternarising a model "
               "trained in full precision destroys most of what it learned, which is why b1.58 trains with the "
               "quantiser in the loop.")
STORAGE_EXPLAIN = ("Bytes of the linear weights in each format (embeddings and head stay full precision and are "
                   "not counted). Packed ternary stores 4 weights per byte plus one float32 γ per matrix; the "
                   "log2(3) bound is what an ideal code for 3 equiprobable values would need (1.58 bits).")
ARITH_EXPLAIN = ("Arithmetic per token through the linear layers. Full precision: one multiply and one add per "
                 "weight. Ternary: one addition or subtraction per nonzero weight (the zeros, about a third, cost "
                 "nothing), one multiply per output to dequantise and one per input to quantise the activations. "
                 "Energy uses the 7 nm per-operation estimates the papers cite (FP16 multiply 0.34 pJ, add 0.16 pJ; "
                 "INT8 add 0.007 pJ): arithmetic only, not memory traffic, and not measured here.")
WIDTH_CHOICES = [16, 32, 48, 64, 96, 128]
DEFAULT_WIDTHS = [32, 48, 64]
DEFAULT_STEPS = 150
TWINS_EXAMPLES = [[[32], 40, 0], [[32, 48, 64], 150, 0], [[32, 64, 128], 300, 1]]
TWINS_LABELS = ["Quick: width 32, 40 steps (under a minute)", "Default: three widths, 150 steps",
                "Longer: widths 32/64/128, 300 steps"]
SCRATCH_CHOICE = "scratch byte model 4x128 (untrained)"
TWINS = Outputs("summary", "curves", "gap", "table", "csv", "json")
PTQ = Outputs("summary", "chart", "table", "layers", "csv", "json")
STORAGE = Outputs("summary", "chart", "table", "arith", "json")
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


# ----- figures -------------------------------------------------------------------------------------------------


def curves_figure(res) -> go.Figure:
    fig = go.Figure()
    widths = sorted({r.width for r in res.runs})
    for r in res.runs:
        colour = COLOURS[widths.index(r.width) % len(COLOURS)]
        dash = "solid" if r.kind == "fp" else "dash"
        label = f"width {r.width} · {'FP' if r.kind == 'fp' else 'b1.58'}"
        fig.add_trace(go.Scatter(x=list(r.steps), y=list(r.losses), mode="lines", name=f"{label} (train)",
                                 line={"color": colour, "dash": dash, "width": 1}, opacity=0.25,
                                 showlegend=False, hovertemplate="step %{x}<br>train loss %{y:.3f}<extra></extra>"))
        fig.add_trace(go.Scatter(x=list(r.eval_steps), y=list(r.eval_loss), mode="lines+markers", name=label,
                                 line={"color": colour, "dash": dash, "width": 2.5},
                                 hovertemplate="step %{x}<br>held-out loss %{y:.3f}<extra>" + label + "</extra>"))
    fig.update_layout(title="Full-precision (solid) vs 1.58-bit (dashed) twins", xaxis_title="training step",
                      yaxis_title="loss (nats per byte)", height=420, margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig


def gap_figure(res) -> go.Figure:
    from backends.surgery.bitnet import PAPER

    fig = go.Figure()
    if res.widths_done:
        w = res.widths_done
        fig.add_trace(go.Scatter(x=[x.params for x in w], y=[x.gap for x in w], mode="lines+markers+text",
                                 name="b1.58 twin / FP twin (here)", text=[f"w{x.width}" for x in w],
                                 textposition="top center", marker={"size": 10, "color": "#d62728"}))
        fig.add_trace(go.Scatter(x=[x.params for x in w], y=[x.posthoc_gap for x in w], mode="markers",
                                 name="FP twin ternarised after training", marker={"size": 9, "symbol": "square",
                                                                                  "color": "#7f7f7f"}))
    sizes = sorted(PAPER["ppl"])
    fig.add_trace(go.Scatter(x=sizes, y=[PAPER["ppl"][s][1] / PAPER["ppl"][s][0] for s in sizes],
                             mode="lines+markers", name="paper: b1.58 / LLaMA (100B tokens)",
                             marker={"size": 10, "symbol": "diamond", "color": "#2ca02c"}))
    fig.add_hline(y=1.0, line_dash="dot", line_color="grey", annotation_text="no gap")
    fig.update_layout(title="Perplexity gap against model size", xaxis={"type": "log", "title": "non-embedding "
                      "parameters"}, yaxis_title="perplexity ratio (b1.58 / FP)", height=400,
                      margin={"l": 60, "r": 20, "t": 50, "b": 40}, legend={"orientation": "h", "y": -0.25})
    return fig


def ptq_figure(res) -> go.Figure:
    fig = go.Figure(go.Bar(x=[r.variant for r in res.rows], y=[r.ppl for r in res.rows],
                           text=[f"{r.ppl:,.1f}" for r in res.rows], textposition="outside",
                           marker_color=["#1f77b4", "#ff7f0e", "#d62728"][: len(res.rows)]))
    fig.update_layout(title=f"{res.model}: held-out perplexity before and after ternarisation",
                      yaxis={"type": "log", "title": "perplexity (log scale)"}, height=380,
                      margin={"l": 60, "r": 20, "t": 50, "b": 80})
    return fig


def storage_figure(st, name: str) -> go.Figure:
    fmts = list(st.bytes)
    fig = go.Figure(go.Bar(x=fmts, y=[st.bytes[f] / 2**20 for f in fmts],
                           text=[f"{st.bytes[f] / 2**20:,.2f} MB<br>{st.bits_per_weight[f]:.2f} bits/weight"
                                 for f in fmts], textposition="outside", marker_color="#1f77b4"))
    fig.update_layout(title=f"{name}: linear weights ({st.n_weights:,} in {st.n_tensors} matrices)",
                      yaxis={"title": "MB (2^20 bytes)", "range": [0, 1.2 * max(st.bytes.values()) / 2**20]},
                      height=380, margin={"l": 60, "r": 20, "t": 50, "b": 60})
    return fig


# ----- callbacks -----------------------------------------------------------------------------------------------


def _widths(values) -> list[int]:
    values = list(values or [])
    if not values:
        raise InputError("Pick at least one width.")
    try:
        ws = [int(v) for v in values]
    except (TypeError, ValueError):
        raise InputError(f"Widths must be chosen from {WIDTH_CHOICES}.") from None
    bad = [w for w in ws if w not in WIDTH_CHOICES]
    if bad:
        raise InputError(f"Width {bad[0]} is not offered: choose from {WIDTH_CHOICES}.")
    if len(ws) > 4:
        raise InputError("Pick at most four widths (each one trains two models).")
    return ws


def _twins_summary(res) -> str:
    lines = ["| width | non-emb. params | FP ppl | b1.58 ppl | ratio | FP ternarised after | zeros in W̃ |",
             "|---|---|---|---|---|---|---|"]
    zeros = {r.width: r.zeros for r in res.runs if r.kind == "b1.58" and r.done}
    for w in res.widths_done:
        lines.append(f"| {w.width} | {w.params:,} | {w.fp_ppl:.2f} | {w.b158_ppl:.2f} | **{w.gap:.3f}** | "
                     f"{w.posthoc_ppl:.2f} ({w.posthoc_gap:.3f}) | {zeros.get(w.width, float('nan')):.0%} |")
    state = (f"Stopped ({res.stopped}) after {res.completed_steps} of {res.total_steps} steps." if res.stopped
             else "All widths done." if res.done else
             f"Training: {res.completed_steps} of {res.total_steps} steps ({res.seconds:.0f} s so far).")
    body = "\n".join(lines) if res.widths_done else "*No width finished yet.*"
    return (f"{body}\n\n{state} Perplexity per byte on held-out {res.source or 'text'}. Paper (b1.58 / LLaMA): "
            "1.044 at 700M, 1.004 at 1.3B, 0.987 at 3B.")


def _twins_pack(res) -> tuple:
    rows = [[w.width, w.params, round(w.fp_ppl, 3), round(w.b158_ppl, 3), round(w.gap, 4), round(w.posthoc_ppl, 3),
             round(w.posthoc_gap, 4)] for w in res.widths_done]
    return TWINS.pack(summary=_twins_summary(res), curves=curves_figure(res), gap=gap_figure(res),
                      table=gr.Dataframe(value=rows, headers=["width", "non-embedding params", "FP ppl", "b1.58 ppl",
                                                              "ratio", "FP ternarised ppl", "ternarised ratio"]),
                      csv=export_dicts("bitnet-twins-curves", res.curve_rows(),
                                       "loss in nats per byte; heldout_loss only at evaluation steps"),
                      json=export_json("bitnet-twins", res.to_dict()))


@guarded
@gpu
def run_twins(widths, steps, seed, progress: gr.Progress = gr.Progress()):
    """Train FP and 1.58-bit twins at each width; stream the curves after every evaluation."""
    from backends.surgery.bitnet import twins_iter

    ws = _widths(widths)
    steps = check_count(steps, what="Steps", low=10, high=min(5000, limits().max_count * 5))
    seed = int(check_number(seed, what="Seed", low=0, high=2**31 - 1))
    progress(0.0, desc="Preparing the byte-level SOTU data")
    for res in twins_iter(ws, steps=steps, seed=seed, deadline=Deadline(limits().max_run_s)):
        progress(res.completed_steps / max(1, res.total_steps),
                 desc=f"{res.completed_steps}/{res.total_steps} steps")
        yield _twins_pack(res)


def _ptq_summary(res) -> str:
    base = res.rows[0].ppl if res.rows else float("nan")
    lines = ["| variant | held-out loss (nats/token) | perplexity | × original |", "|---|---|---|---|"]
    lines += [f"| {r.variant} | {r.loss:.3f} | {r.ppl:,.2f} | {r.ppl / base:,.1f} |" for r in res.rows]
    done = "" if res.complete else " *Stopped by the time budget before every variant was scored.*"
    return ("\n".join(lines) + f"\n\n`{res.model}`, {res.tokens:,} held-out tokens ({res.source}), "
            f"{res.seconds:.0f} s. W̃: {res.stats.zeros:.0%} zeros, mean γ {res.stats.gamma_mean:.4f} over "
            f"{len(res.stats.layers)} matrices.{done}")


@guarded
@gpu
def run_ptq(model, blocks, progress: gr.Progress = gr.Progress()):
    """Ternarise a trained model and score it on held-out text before and after (no training)."""
    from backends.surgery.bitnet import ptq

    if not model:
        raise InputError("Pick a model.")
    blocks = check_count(blocks, what="Held-out blocks", low=1, high=64)
    res = ptq(model, max_blocks=blocks, deadline=Deadline(limits().time_budget_s),
              progress=lambda f, msg: progress(f, desc=msg))
    layer_rows = [[r["layer"], f"{r['out']}×{r['in']}", round(r["gamma"], 5), round(r["zeros"], 4),
                   round(r["plus_one"], 4), round(r["minus_one"], 4)] for r in res.stats.rows()]
    return PTQ.pack(summary=_ptq_summary(res), chart=ptq_figure(res),
                    table=gr.Dataframe(value=[[r.variant, round(r.loss, 4), round(r.ppl, 3)] for r in res.rows],
                                       headers=["variant", "held-out loss", "perplexity"]),
                    layers=gr.Dataframe(value=layer_rows, headers=["layer", "shape", "gamma", "zeros", "+1", "-1"]),
                    csv=export_csv("bitnet-ptq-layers", ["layer", "shape", "gamma", "zeros", "plus_one", "minus_one"],
                                   layer_rows, f"{res.model}: ternary weights per linear layer"),
                    json=export_json("bitnet-ptq", res.to_dict()))


def _model_for_storage(name: str):
    if name == SCRATCH_CHOICE:
        from backends.training import scratch_model

        return scratch_model()
    from backends.models import loaded

    return loaded(name, "chat")


@guarded
@gpu
def run_storage(model, progress: gr.Progress = gr.Progress()):
    """Bytes and per-token arithmetic of a model's linear layers in full precision and in ternary."""
    from backends.surgery.bitnet import ENERGY_PJ, storage, ternary_stats

    if not model:
        raise InputError("Pick a model.")
    progress(0.2, desc=f"Ternarising the weights of {model} (counting only)")
    stats = ternary_stats(_model_for_storage(model))
    st = storage(stats)
    table = [[fmt, int(round(b)), round(b / 2**20, 3), round(st.bits_per_weight[fmt], 3),
              round(st.bytes["fp16"] / b, 2)] for fmt, b in st.bytes.items()]
    arith = [["multiplies", f"{st.fp_mults:,}", f"{st.ternary_mults:,}"],
             ["additions / subtractions", f"{st.fp_adds:,}", f"{st.ternary_addsub:,}"],
             ["skipped (zero weights)", "0", f"{st.ternary_skipped:,}"],
             ["arithmetic energy, 7 nm estimate (nJ)", f"{st.energy_pj['fp16'] / 1e3:,.2f}",
              f"{st.energy_pj['ternary'] / 1e3:,.2f}"]]
    paper_ratio = (ENERGY_PJ["fp16_mul"] + ENERGY_PJ["fp16_add"]) / ENERGY_PJ["int8_add"]
    packed = st.bytes["ternary, 2-bit packed"]
    summary = (f"**{st.n_weights:,} linear weights** in {st.n_tensors} matrices ({st.other_params:,} other "
               f"parameters stay full precision). Packed ternary takes **{packed / 2**20:,.2f} MB** against "
               f"{st.bytes['fp16'] / 2**20:,.2f} MB in fp16 "
               f"({st.bytes['fp16'] / packed:.1f}× less; the 1.58-bit bound would be "
               f"{st.bytes['fp16'] / st.bytes['log2(3) bound']:.1f}×). W̃ has {stats.zeros:.0%} zeros. Per token: "
               f"{st.fp_mults:,} multiplies in full precision against {st.ternary_mults:,} in ternary; arithmetic "
               f"energy {st.energy_ratio:.0f}× lower by this count (the paper's count, every weight one int8 "
               f"addition against one fp16 multiply-add: {paper_ratio:.1f}×).")
    return STORAGE.pack(summary=summary, chart=storage_figure(st, model),
                        table=gr.Dataframe(value=table, headers=["format", "bytes", "MB", "bits per weight",
                                                                 "× smaller than fp16"]),
                        arith=gr.Dataframe(value=arith, headers=["per token", "full precision (fp16)",
                                                                 "ternary (b1.58)"]),
                        json=export_json("bitnet-storage", {"model": model, "n_weights": st.n_weights,
                                                            "bytes": st.bytes, "bits_per_weight": st.bits_per_weight,
                                                            "fp_mults": st.fp_mults, "fp_adds": st.fp_adds,
                                                            "ternary_addsub": st.ternary_addsub,
                                                            "ternary_mults": st.ternary_mults,
                                                            "ternary_skipped": st.ternary_skipped,
                                                            "energy_pj": st.energy_pj, "energy_pj_per_op": ENERGY_PJ,
                                                            "zeros": stats.zeros}))


# ----- layout --------------------------------------------------------------------------------------------------


def _float_models(reg) -> list[str]:
    """Causal LMs offered for ternarisation: those that run in float (int8 copies are refused anyway)."""
    out = []
    for name in reg.lm_names():
        try:
            if reg.weights_for(reg.spec(name)) not in ("int8", "nf4"):
                out.append(name)
        except Exception:  # a precision this device cannot run: not offered
            continue
    return out


def _plot_row(label: str, text: str) -> gr.Plot:
    with gr.Row():
        with gr.Column(scale=3):
            plot = gr.Plot(label=label)
        with gr.Column(scale=1):
            explain(text)
    return plot


def build() -> None:
    from backends.surgery.bitnet import DEFAULT_MODEL

    reg = intro(INTRO)
    explain(SCALE_NOTE)
    models = _float_models(reg)
    default_model = DEFAULT_MODEL if DEFAULT_MODEL in models else (models[0] if models else None)
    with gr.Tabs():
        with gr.Tab("Train twins from scratch"):
            gr.Markdown("At each width, a tiny LLaMA-style byte model (4 layers, 4 heads) and its 1.58-bit twin "
                        "train on the same SOTU batches with the same seed and learning rate; the trained FP twin "
                        "is then also ternarised after the fact. The default (six models) took about 7 minutes on a "
                        "busy two-core machine; the quick example well under a minute.")
            with gr.Row():
                widths = gr.CheckboxGroup(WIDTH_CHOICES, value=DEFAULT_WIDTHS, label="Widths (hidden size)")
                steps = gr.Number(DEFAULT_STEPS, precision=0, label="Training steps per model (batch 8 × 128 bytes)")
                seed = gr.Number(0, precision=0, label="Seed")
            inputs = [widths, steps, seed]
            ex = gr.Examples(TWINS_EXAMPLES, inputs=inputs, example_labels=TWINS_LABELS,
                             label="Examples (one click runs them)")
            with gr.Row():
                run = gr.Button("Train the twins", variant="primary")
                stop = gr.Button("Stop")
            summary = gr.Markdown()
            curves = _plot_row("Held-out loss: FP vs b1.58 twins", TWINS_EXPLAIN)
            gap = _plot_row("Gap against size", GAP_EXPLAIN)
            table = gr.Dataframe(headers=["width"], interactive=False, label="Final held-out perplexity per width")
            with gr.Row():
                csv = gr.File(label="Curves (CSV)")
                js = gr.File(label="Everything (JSON)")
            outputs = TWINS.wire(summary=summary, curves=curves, gap=gap, table=table, csv=csv, json=js)
            event = run.click(run_twins, inputs, outputs, api_name="bitnet_twins", **HEAVY)
            ex_event = ex.load_input_event.then(run_twins, inputs, outputs, api_name="bitnet_twins_example",
                                                api_visibility="undocumented", **HEAVY)
            stop.click(None, None, None, cancels=[event, ex_event])
        with gr.Tab("Ternarise a trained model"):
            gr.Markdown("Post-training ternarisation (no retraining): every linear layer but the head becomes "
                        "γ·{−1, 0, +1}; embeddings and head stay full precision. SmolLM2-135M takes tens of "
                        "seconds for 8 blocks. int8 models are refused: use a float32 copy.")
            with gr.Row():
                p_model = gr.Dropdown(models, value=default_model, label="Model (float weights)")
                p_blocks = gr.Slider(1, 64, value=8, step=1, label="Held-out blocks of 128 tokens (SOTU)")
            p_inputs = [p_model, p_blocks]
            p_ex = gr.Examples([[default_model, 4], [default_model, 16]], inputs=p_inputs,
                               example_labels=["quick: 4 blocks", "16 blocks"],
                               label="Examples (one click runs them)")
            with gr.Row():
                p_run = gr.Button("Ternarise and score", variant="primary")
                p_stop = gr.Button("Stop")
            p_summary = gr.Markdown()
            p_chart = _plot_row("Perplexity before and after", PTQ_EXPLAIN)
            p_table = gr.Dataframe(headers=["variant"], interactive=False, label="Before and after")
            p_layers = gr.Dataframe(headers=["layer"], interactive=False, label="Per layer: γ and the shares of W̃",
                                    max_height=300)
            with gr.Row():
                p_csv = gr.File(label="Per-layer statistics (CSV)")
                p_js = gr.File(label="Everything (JSON)")
            p_outputs = PTQ.wire(summary=p_summary, chart=p_chart, table=p_table, layers=p_layers, csv=p_csv,
                                 json=p_js)
            p_event = p_run.click(run_ptq, p_inputs, p_outputs, api_name="bitnet_ptq", **HEAVY)
            p_ex_event = p_ex.load_input_event.then(run_ptq, p_inputs, p_outputs, api_name="bitnet_ptq_example",
                                                    api_visibility="undocumented", **HEAVY)
            p_stop.click(None, None, None, cancels=[p_event, p_ex_event])
        with gr.Tab("Storage and arithmetic"):
            gr.Markdown("What ternary weights save, counted from a model's actual W̃: bytes in each format and the "
                        "operations per token. Counted, not timed: there are no ternary kernels on this CPU.")
            s_choices = models + [SCRATCH_CHOICE]
            with gr.Row():
                s_model = gr.Dropdown(s_choices, value=default_model or SCRATCH_CHOICE, label="Model")
                s_run = gr.Button("Count", variant="primary")
            s_ex = gr.Examples([[c] for c in ([default_model] if default_model else []) + [SCRATCH_CHOICE]],
                               inputs=[s_model], label="Examples (one click counts them)")
            s_summary = gr.Markdown()
            s_chart = _plot_row("Bytes of the linear weights", STORAGE_EXPLAIN)
            s_table = gr.Dataframe(headers=["format"], interactive=False, label="Storage")
            with gr.Row():
                with gr.Column(scale=3):
                    s_arith = gr.Dataframe(headers=["per token"], interactive=False, label="Arithmetic per token")
                with gr.Column(scale=1):
                    explain(ARITH_EXPLAIN)
            s_js = gr.File(label="Everything (JSON)")
            s_outputs = STORAGE.wire(summary=s_summary, chart=s_chart, table=s_table, arith=s_arith, json=s_js)
            s_run.click(run_storage, [s_model], s_outputs, api_name="bitnet_storage", **HEAVY)
            s_ex.load_input_event.then(run_storage, [s_model], s_outputs, api_name="bitnet_storage_example",
                                       api_visibility="undocumented", **HEAVY)

