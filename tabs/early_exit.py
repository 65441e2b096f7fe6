"""Early-exit token viewer: per-layer predictions (logit lens), early exit and self-speculative decoding."""
from __future__ import annotations

import html

import gradio as gr
import numpy as np
import plotly.graph_objects as go

from backends import early_exit as EE
from backends.config import InputError, check_count, limits
from backends.models import registry
from tabs.common import HEAVY, Outputs, export_json, gpu, guarded, stream_sweep
from tabs.ui import explain, intro, sweep_controls

TITLE = "Early-exit token viewer"
SUMMARY = ("LayerSkip (Elhoushi et al. 2024): each layer's prediction through the logit lens, early exit, and "
           "lossless self-speculative decoding.")
LENS_TOKENS = 64  # positions shown in the heat map
EXAMPLES = [
    "The capital of France is Paris. The capital of Italy is Rome. The capital of Spain is",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) +",
    "Once upon a time, in a small village by the sea, there lived an old fisherman who",
]
INTRO = """
**LayerSkip** (Elhoushi et al. 2024). Put every layer's hidden state through the model's final norm and LM head
(the *logit lens*): early layers guess, later ones converge to the final prediction, often before the last layer.
A token's **exit layer** is the earliest layer from which the top-1 prediction equals the final one and stays so
(the paper: 23.45 of 32 layers on average for Llama-1-7B). **Self-speculative decoding** drafts tokens with the
first E layers and checks them with the remaining ones in one pass; with greedy decoding the output is exactly the
full model's.
"""
TINY_NOTE = """
*Expect few accepted drafts and a slow-down here:* the packaged models were not trained with the LayerSkip recipe
(layer dropout and an early-exit loss), so their early layers rarely agree with the last one, and every rejected
draft costs time, as the paper and Hugging Face's write-up observe. LayerSkip checkpoints
(`facebook/layerskip-llama3.2-1B`, the GPU profile's default) are where the speed-up shows.
"""

CPU_NOTE = """
*On the cpu profile* the viewer runs Qwen2.5-Coder-0.5B-Instruct (24 layers) **in float32**, not in int8 like the
other tabs. Int8 quantises each call's activations with one scale, so verifying several drafted tokens in one pass
can pick a different token than one-token greedy steps. Self-speculation would then no longer be lossless (in int8 it
was not, on the prompt below with E = 6, d = 2). In float32 the output is identical to greedy, token for token.
*Expect few accepted drafts and a slow-down:* Qwen was not trained with the LayerSkip recipe (layer dropout and an
early-exit loss). On "The history of the United States begins" (32 tokens, at most 2 drafts per step,
`bench/bench_early_exit.py`) exit layers 1 to 12 accepted 0-11 % of drafts (E = 16: 21 %, E = 20: 48 %, E = 23:
77 %), and self-speculation took 0.9x-1.5x the time of greedy decoding (at most 1.2x where acceptance was below
10 %; two runs). That is with the adaptive schedule (the default): it drafts less after rejections and decodes plainly
for a while after a step that accepted nothing. Drafting d tokens at every step (the paper's fixed schedule, a choice
below) took 2.2x-3.0x at low acceptance with d = 2, since on a CPU a pass over several tokens costs nearly as much as
that many one-token steps. LayerSkip checkpoints (`facebook/layerskip-llama3.2-1B`, the GPU profile) are where the
paper's speed-ups (up to 2.16x) show.
"""
NOTES = {"tiny": TINY_NOTE, "cpu": CPU_NOTE}
LENS = Outputs("heat", "histogram", "lines", "summary", "export")  # run_lens's outputs
GENERATE = Outputs("tokens", "stats", "text", "early_text")  # run_generate's outputs
SWEEP = Outputs("report", "table", "figure")  # run_sweep's outputs
SCHEDULES = ("adaptive", "fixed (paper)")  # drafting schedules: see backends.early_exit.adapt


def _lens_figure(lens: EE.Lens, colour: str) -> go.Figure:
    T = len(lens.tokens)
    z = np.array(lens.final_token_prob) if colour == "final token probability" else \
        np.array([[p[0] for p in layer] for layer in lens.top_probs])
    text = [[tok[0] for tok in layer] for layer in lens.top_tokens]
    hover = [[("<br>".join(f"{html.escape(t)!r} {p:.2f}" for t, p in zip(lens.top_tokens[y][i], lens.top_probs[y][i])))
              + f"<br>final token p {lens.final_token_prob[y][i]:.2f} · entropy {lens.entropy[y][i]:.2f}"
              for i in range(T)] for y in range(len(lens.layer_names))]
    x = [f"{i}:{t!r}" for i, t in enumerate(lens.tokens)]
    fig = go.Figure(go.Heatmap(z=z, x=x, y=lens.layer_names, text=text, texttemplate="%{text}", textfont={"size": 9},
                               customdata=hover, hovertemplate="%{x} · %{y}<br>%{customdata}<extra></extra>",
                               colorscale="Viridis", zmin=0, zmax=1, colorbar={"title": colour[:18]}))
    fig.add_trace(go.Scatter(x=x, y=[lens.layer_names[e] for e in lens.exit_layer], mode="markers",
                             marker={"symbol": "line-ew-open", "size": 14, "color": "red", "line": {"width": 3}},
                             name="exit layer", hovertemplate="exit at %{y}<extra></extra>"))
    fig.update_layout(title="Top-1 prediction of each layer (rows) at each position (columns); red: exit layer",
                      height=max(420, 18 * len(lens.layer_names) + 120),
                      xaxis={"tickangle": -60, "tickfont": {"size": 9}},
                      margin={"l": 90, "r": 20, "t": 50, "b": 120}, showlegend=False)
    return fig


def _exit_histogram(lens: EE.Lens) -> go.Figure:
    fig = go.Figure(go.Histogram(x=lens.exit_layer, xbins={"start": -0.5, "end": lens.n_layers + 0.5, "size": 1}))
    fig.add_vline(x=lens.mean_exit_layer, line={"dash": "dash", "color": "red"},
                  annotation_text=f"mean {lens.mean_exit_layer:.2f} of {lens.n_layers}")
    fig.update_layout(title="Exit layers over the text", xaxis_title="layer (0 = embeddings)", yaxis_title="positions",
                      height=300, margin={"l": 60, "r": 20, "t": 50, "b": 50})
    return fig


def _prob_lines(lens: EE.Lens) -> go.Figure:
    fig = go.Figure()
    probs = np.array(lens.final_token_prob)
    fig.add_trace(go.Scatter(x=list(range(probs.shape[0])), y=probs.mean(1), name="mean over positions",
                             line={"width": 4, "color": "black"}))
    for i in range(0, probs.shape[1], max(1, probs.shape[1] // 8)):
        fig.add_trace(go.Scatter(x=list(range(probs.shape[0])), y=probs[:, i], name=f"{i}:{lens.tokens[i]!r}",
                                 opacity=0.6))
    fig.update_layout(title="Probability of the final prediction, layer by layer", xaxis_title="layer",
                      yaxis_title="probability", height=320, margin={"l": 60, "r": 20, "t": 50, "b": 50})
    return fig


@guarded
@gpu
def run_lens(text: str, model: str, top_k: float, colour: str):
    """Logit lens of a text (the first LENS_TOKENS positions): the outputs named in LENS."""
    lens = EE.logit_lens(text, model or None, top_k=check_count(top_k, what="top-k", low=1, high=10),
                         max_tokens=LENS_TOKENS)
    summary = (f"`{lens.model}`, {lens.n_layers} layers, {len(lens.tokens)} positions (the first {LENS_TOKENS} "
               f"tokens at most) in {lens.seconds:.2f} s. A token needs on average **{lens.mean_exit_layer:.2f} of "
               f"{lens.n_layers}** layers; the top-1 prediction changes its mind "
               f"{np.mean(lens.mind_changes):.1f} times per position on the way up.")
    export = export_json("logit-lens", {k: getattr(lens, k) for k in lens.__dataclass_fields__})
    return LENS.pack(heat=_lens_figure(lens, colour), histogram=_exit_histogram(lens), lines=_prob_lines(lens),
                     summary=summary, export=export)


def spec_html(r: EE.SpecResult, tokenizer) -> str:
    """The generated tokens, each marked as an accepted draft or the verifier's own token."""
    spans = []
    for t, src in zip(r.token_ids, r.token_sources):
        piece = html.escape(tokenizer.decode([t])).replace("\n", "↵<br>") or "&nbsp;"
        spans.append(f'<span class="tok {src}" title="{src}">{piece}</span>')
    return ('<div class="token-strip">' + "".join(spans) + '</div><div class="tok-legend">'
            '<span class="tok draft">accepted draft</span> <span class="tok verifier">from the verifier</span></div>')


def adaptive_schedule(schedule: str) -> bool:
    """True for the adaptive drafting schedule, False for the paper's fixed one (d drafts at every step)."""
    if schedule not in SCHEDULES:
        raise InputError(f"Schedule: choose one of {', '.join(SCHEDULES)}.")
    return schedule == SCHEDULES[0]


@guarded
@gpu
def run_generate(prompt: str, model: str, exit_layer: float, speculations: float, max_tokens: float,
                 schedule: str = SCHEDULES[0]):
    """Self-speculative decoding against plain greedy and early exit alone: the outputs named in GENERATE."""
    r = EE.self_speculative(prompt, model or None, exit_layer=exit_layer, num_speculations=speculations,
                            max_new_tokens=max_tokens, adaptive=adaptive_schedule(schedule),
                            time_budget_s=limits().time_budget_s)
    lm = registry().get(r.model)
    stats = (f"Drafted **{r.drafted}**, accepted **{r.accepted}** (acceptance {r.acceptance_rate:.1%}) over "
             f"{len(r.steps)} verification steps; {r.plain_steps} tokens decoded by the full model alone while "
             f"drafting paused after failed steps. Self-speculative {r.seconds:.2f} s against plain greedy "
             f"{r.greedy_seconds:.2f} s: **speed-up {r.speedup:.2f}x**. Output identical to greedy: "
             f"**{'yes' if r.identical else 'NO'}**. Exit after {r.exit_layer} of {r.n_layers} layers, "
             f"at most {r.num_speculations} drafts per step.")
    return GENERATE.pack(tokens=spec_html(r, lm.tokenizer), stats=stats, text=r.text, early_text=r.early_exit_text)


def parse_ints(text: str, what: str, low: int, high: int) -> list[int]:
    """Distinct whole numbers from a comma-separated text, sorted; each must lie in [low, high]."""
    try:
        values = sorted({int(v) for v in str(text).replace(";", ",").split(",") if v.strip()})
    except ValueError:
        raise InputError(f"{what}: give whole numbers separated by commas, e.g. 4, 8, 12.") from None
    if not values or any(not low <= v <= high for v in values):
        raise InputError(f"{what}: every value must be between {low} and {high}.")
    return values


SWEEP_NOTE = ("Speed-ups measured while several Ray workers share this machine's cores are not comparable with a "
              "one-worker (or in-process) run: each combination is timed against plain greedy in the same call, on "
              "the same worker, so compare speed-ups within one run only. Acceptance and the identical-to-greedy "
              "flag do not depend on where a combination ran.")


def _sweep_figure(sw: EE.Sweep) -> go.Figure:
    speed = sw.speedups()
    text = [[f"{v:.2f}x" if v == v else "–" for v in row] for row in speed]
    fig = go.Figure(go.Heatmap(z=speed, x=[f"d={d}" for d in sw.specs], y=[f"E={e}" for e in sw.exits], text=text,
                               texttemplate="%{text}", colorscale="RdYlGn", zmid=1.0, colorbar={"title": "speed-up"}))
    fig.update_layout(title="Speed-up over plain greedy (1.0 = break-even)", height=320,
                      margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig


@guarded
@gpu
def run_sweep(prompt: str, model: str, exits: str, specs: str, max_tokens: float, schedule: str = SCHEDULES[0],
              backend: str = "in-process", workers: float = 2, resume: bool = False,
              progress: gr.Progress = gr.Progress()):
    """Speed-up and acceptance over a grid of exit layers E and speculations d, as the "speculation" sweep
    in-process or on Ray workers: streams the outputs named in SWEEP (the report shows progress while it runs).

    The whole sweep shares the request's time budget: combinations not reached by then are left out, and said so."""
    reg = registry()
    name = reg.resolve(model or None, "early_exit")
    n = reg.get(name).model.config.get_text_config().num_hidden_layers
    Es, Ds = parse_ints(exits, "Exit layers", 1, n - 1), parse_ints(specs, "Speculations", 1, 16)
    if len(Es) * len(Ds) > 12:
        raise InputError(f"{len(Es) * len(Ds)} combinations; at most 12 per sweep (each runs two generations).")
    m = check_count(max_tokens, what="New tokens", low=1, high=64)
    options = EE.speculation_options(prompt, name, max_new_tokens=m,
                                     schedule="adaptive" if adaptive_schedule(schedule) else "fixed")
    items = EE.speculation_items(Es, Ds)
    for line, res in stream_sweep("speculation", items, options, backend, workers, resume, progress=progress,
                                  time_budget_s=limits().time_budget_s):
        if res is None:
            yield SWEEP.pack(report=line, table=gr.skip(), figure=gr.skip())
    sw = EE.sweep_from(res, items, options)
    rows = [[r["exit_layer"], r["speculations"], None if r["acceptance"] is None else round(r["acceptance"], 3),
             round(r["speedup"], 3), r["identical"], r["tokens"], round(r["seconds"], 3)] for r in sw.rows]
    notes = []
    if sw.missing:
        notes.append(f"**Stopped early ({sw.stopped}):** {len(sw.missing)} combinations not reached "
                     f"({', '.join(f'E={e}, d={d}' for e, d in sw.missing[:6])}); run again with Resume to finish.")
    if sw.failed:
        notes.append("Failed: " + "; ".join(f"E={e}, d={d}: {msg}" for (e, d), msg in list(sw.failed.items())[:3]))
    report = "\n\n".join([line, *notes, f"*{SWEEP_NOTE}*"])
    yield SWEEP.pack(report=report, table=rows, figure=_sweep_figure(sw))


def build() -> None:
    reg = intro(INTRO, NOTES)
    model = gr.Dropdown(reg.lm_names(), value=reg.slots["early_exit"], label="Model")
    with gr.Tabs():
        with gr.Tab("Logit lens"):
            text = gr.Textbox(label="Text", value=EXAMPLES[0], lines=3, max_length=4000)
            gr.Examples([[e] for e in EXAMPLES], inputs=[text], label="Examples")
            with gr.Row():
                top_k = gr.Slider(1, 10, value=5, step=1, label="top-k in the hover")
                colour = gr.Radio(["top-1 probability", "final token probability"], value="final token probability",
                                  label="Colour cells by", info="final token probability: how much each layer already "
                                  "believes the model's eventual answer")
                run = gr.Button("Show the layers", variant="primary")
            summary = gr.Markdown()
            heat = gr.Plot(label="Layers × positions")
            explain("Each cell shows the layer's top-1 next-token prediction at that position (the column's token "
                    "is the input; the prediction is for the token after it). Hover for the top-k, the probability "
                    "of the final prediction and the entropy.")
            with gr.Row():
                hist = gr.Plot(label="Exit layers")
                lines = gr.Plot(label="Final prediction's probability by layer")
            export = gr.File(label="Lens (JSON)")
            run.click(run_lens, [text, model, top_k, colour],
                      LENS.wire(heat=heat, histogram=hist, lines=lines, summary=summary, export=export),
                      api_name="early_exit_lens", **HEAVY)
        with gr.Tab("Self-speculative decoding"):
            prompt = gr.Textbox(label="Prompt", value="The history of the United States begins", lines=2,
                                max_length=2000)
            with gr.Row():
                exit_layer = gr.Slider(1, 40, value=12, step=1, label="Exit layer E (draft with layers 1..E)")
                specs = gr.Slider(1, 16, value=4, step=1, label="Speculations d per step (at most)")
                max_tokens = gr.Slider(4, 128, value=32, step=4, label="New tokens")
                schedule = gr.Radio(list(SCHEDULES), value=SCHEDULES[0], label="Drafting schedule",
                                    info="adaptive: fewer drafts after rejections, plain steps after a step that "
                                    "accepts nothing. fixed: d drafts at every step, as in the paper.")
                go_btn = gr.Button("Generate", variant="primary")
            stats = gr.Markdown()
            out_html = gr.HTML()
            with gr.Row():
                full_text = gr.Textbox(label="Self-speculative output (= full model greedy)", lines=4)
                early_text = gr.Textbox(label="Early exit only (first E layers)", lines=4)
            go_btn.click(run_generate, [prompt, model, exit_layer, specs, max_tokens, schedule],
                         GENERATE.wire(tokens=out_html, stats=stats, text=full_text, early_text=early_text),
                         api_name="early_exit_generate", **HEAVY)
            gr.Markdown("**Sweep** over exit layers and speculations (each combination runs the self-speculative and "
                        "the plain greedy generation, timed in the same call), in-process or on Ray workers.")
            with gr.Row():
                exits = gr.Textbox(value="6, 12, 20", label="Exit layers E")
                spec_list = gr.Textbox(value="2, 4", label="Speculations d")
                sweep_tokens = gr.Slider(4, 64, value=16, step=4, label="New tokens")
                sweep_btn = gr.Button("Run the sweep")
                sweep_stop = gr.Button("Stop")
            backend, workers, resume = sweep_controls()
            sweep_md = gr.Markdown()
            sweep_table = gr.Dataframe(headers=["E", "d", "acceptance", "speed-up", "identical", "tokens", "seconds"],
                                       interactive=False)
            sweep_fig = gr.Plot(label="Speed-up")
            explain(SWEEP_NOTE)
            sweep_event = sweep_btn.click(run_sweep, [prompt, model, exits, spec_list, sweep_tokens, schedule, backend,
                                                      workers, resume],
                                          SWEEP.wire(report=sweep_md, table=sweep_table, figure=sweep_fig),
                                          api_name="early_exit_sweep", **HEAVY)
            sweep_stop.click(None, None, None, cancels=[sweep_event])
