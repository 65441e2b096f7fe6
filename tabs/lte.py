"""Tab "Parallel low-rank training" (issue #20): LoRA-the-Explorer against full-rank training and one LoRA."""
from __future__ import annotations

import gradio as gr
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from backends.config import InputError, check_count, limits, public_mode
from backends.decoding import Deadline
from tabs.common import HEAVY, Outputs, export_csv, export_json, gpu, guarded
from tabs.ui import explain, intro

TITLE = "Parallel low-rank training"
SUMMARY = ("LoRA-the-Explorer (Huh et al. 2024): several LoRA heads trained in parallel and merged every T steps"
           " train a network from scratch, against full-rank training and one LoRA.")
INTRO = """
**LoRA-the-Explorer (LTE)** (Huh et al. 2024) asks whether low-rank adapters can *pretrain* a network. One LoRA,
f(x) = W x + s B A x with s = α / r, cannot: its update has rank at most r, and training from random weights
needs high-rank updates. LTE trains **N LoRA heads in parallel**, each on its own worker and data shard, and
every **T steps merges** their updates into the main weights: W ← W + (1/N) Σₙ s (Bₙ Aₙ − Bₙᵖʳᵉᵛ Aₙᵖʳᵉᵛ)
(the code's reset-less form: heads and their optimizers are kept; between merges head n computes
W x + s (Bₙ Aₙ − Bₙᵖʳᵉᵛ Aₙᵖʳᵉᵛ) x). Many low-rank updates add up to a full-rank one, and workers exchange only
their LoRA parameters, only at merges. Here three schemes train the same network from scratch on the **same
number of samples**: full-rank (batch B a step), a single LoRA of rank r (batch B, never merged, so W stays at
its random init), and LTE (N heads, batch B/N each). A (semi-)orthogonal, B = 0 at the start.

**The other parameters** (the LM's byte embeddings, output layer and norm gains; the toy has none) are trained by
every head with its own optimizer and **averaged at merges** (the single LoRA trains them too); "frozen" keeps them
at their random init instead. Measured on the LM (bench/bench_lte.py): frozen, every LoRA-based scheme stalls near
the untrained loss, since a random output layer cannot be fixed by low-rank updates of the blocks.
"""
SCALE_NOTE = """
**How far this is from the paper.** The paper pretrains ViT-S/32 on ImageNet-100 and ImageNet-1K (and MLP-Mixers
on smaller vision sets) with 32 heads of rank 32 (α = 4096), a total batch of 4096 split across the heads and
T = 10, on GPUs; it reports LTE approaching standard training on ImageNet-100, and leading early but ending behind
on ImageNet-1K (more iterations needed). Here: the note's **least-squares toy** (W is 64 x 64, one LoRA on it) and
a **byte-level LLaMA of about 140 k parameters** (2 layers x 64) on State of the Union addresses, a few hundred
steps on two CPU cores. The heads are **emulated**: in-process one after another, or as Ray workers on this machine;
no real distributed speed-up is shown. Communication and memory are the note's formulas (float32 bytes; q = 1
since W is not quantised here, with the 4-bit q = 0.25 beside it), not measured network traffic.
"""
FINDINGS = """
**What the runs show** (measured with bench/bench_lte.py, seed 0 unless said, equal samples for every scheme).
*Toy:* 8 heads x rank 8 (N·r = 64, the width of W) take W to the true solution, validation loss **0.0026** after 600
steps x 32 (from 2.06), while the single rank-8 LoRA stops at **1.286**, just above the 1.281 that any rank-8 update
of the random init is limited to; merging every step gives 0.0024, every 50 steps only 0.135: **more frequent merges
are faster**, as in the paper. Seed 1 gives the same picture (LTE 0.0024, the LoRA 1.244 above its floor of 1.238, T
= 50 0.125). With 4 heads x rank 8 (N·r = 32, half the width) LTE reaches 0.248. The heads' updates stay
near-orthogonal (mean |cos| about 0.02). *Tiny LM:* **the paper's effect does not show at this scale.** After 400
steps x 16 (4 heads x rank 8, T = 10), seed 0 / seed 1: full-rank 1.717 / 1.710 nats per byte, single LoRA 1.918 /
1.886, LTE 1.874 / 1.896: LTE about ties with the single LoRA and both stay well behind full-rank (after 300 steps
LTE trailed, 2.040 against 1.927). The paper, too, finds that LTE needs more iterations than standard training, and
it trains far longer on far more data. Here the single LoRA also trains the embeddings and output layer, which carry
most of a tiny byte model's early progress: with them frozen every LoRA-based run stays near the untrained loss
(5.01 from 5.58 after 150 steps, full-rank 2.10). *Costs:* the toy's LTE run sends 8.2 MB in all against 525 MB for
an all-reduce data-parallel run (64x less), the LM's (400 steps) 89 MB against 2.6 GB (29x).
"""
CURVE_EXPLAIN = ("Validation loss against training samples (steps x batch; LTE's heads share each step's batch). "
                 "Full-rank is the reference; the single LoRA can only move W within rank r, so it levels off (on "
                 "the toy, above the dashed line: the best any rank-r update of the random init can do); LTE's "
                 "main weights change only at merges, so its curve is evaluated at merges. Toy: exact mean squared "
                 "error ||W − W*||² / 64 (log scale); LM: held-out nats per byte.")
COST_EXPLAIN = ("Left: bytes sent over the whole run, by the note's formulas. Full-rank data-parallel training on N "
                "devices sends N(N−1)M a step with an all-reduce, 2(N−1)M with a parameter server; LTE sends "
                "(N−1)(qM + M_lte) once per merge (the merged W out, each head's factors and other parameters back); "
                "the single LoRA runs on one device and sends nothing. Right: memory per device, 3M for full-rank "
                "(weights, gradients, optimizer) against qM + 3M_lte for an LTE worker. Log scales.")

NETWORK_CHOICES = [("least-squares toy (64 x 64)", "toy"), ("tiny byte-level LM on SOTU", "lm")]
OTHER_CHOICES = [("trained per head, averaged at merges", "average"), ("frozen at init", "frozen")]
BACKEND_CHOICES = ["in-process", "Ray"]
COLORS = {"full": "#636363", "lora": "#e6550d", "lte": "#3182bd"}
EXTRA_COLORS = ["#9ecae1", "#08519c", "#6baed6", "#2171b5"]
# network, heads, rank, alpha, T, other Ts, steps, batch, others, seed, backend, workers
EXAMPLES = [
    ["toy", 8, 8, 32, 10, "1, 50", 600, 32, "average", 0, "in-process", 2],
    ["toy", 4, 8, 32, 10, "", 200, 16, "average", 0, "in-process", 2],
    ["lm", 4, 8, 128, 10, "", 400, 16, "average", 0, "in-process", 2],
    ["lm", 4, 8, 128, 10, "", 150, 16, "frozen", 0, "in-process", 2],
]
EXAMPLE_LABELS = ["Toy: 8 heads x rank 8, T = 1, 10, 50 (under a minute)",
                  "Toy, 4 heads x rank 8 (heads x rank < width: slower)",
                  "Tiny LM on SOTU, 4 heads x rank 8, 400 steps (2 minutes on a quiet machine)",
                  "Tiny LM, other parameters frozen (short)"]
RESULT = Outputs("summary", "curve", "costs", "table", "csv", "json")
TABLE_HEADERS = ["scheme", "devices", "final validation loss", "bytes per step", "bytes over the run",
                 "memory per device"]


def _caps() -> dict:
    if public_mode():
        return {"steps": 400, "heads": 8, "rank": 16, "batch": 64}
    return {"steps": 2000, "heads": 16, "rank": 32, "batch": 128}


def examples() -> list[list]:
    """EXAMPLES with their step counts within this mode's cap (a shared demo allows fewer steps), so that every
    example runs with one click there too."""
    cap = _caps()["steps"]
    return [[*e[:6], min(e[6], cap), *e[7:]] for e in EXAMPLES]


def _mb(x: float) -> str:
    if x == 0:
        return "0"
    for unit, div in (("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if x >= div:
            return f"{x / div:.1f} {unit}"
    return f"{x:.0f} B"


# ----- figures --------------------------------------------------------------------------------------------


def curve_figure(res) -> go.Figure:
    from backends.lte import Settings, curve_label

    s = Settings(**{**res.settings, "extra_merge_every": tuple(res.settings["extra_merge_every"])})
    fig = go.Figure()
    extra = iter(EXTRA_COLORS)
    for key in res.samples:
        color = COLORS.get(key) or next(extra)
        label = curve_label(key, s)
        fig.add_trace(go.Scatter(x=res.samples[key], y=res.losses[key], mode="lines+markers", name=label,
                                 line={"color": color, "dash": "dot" if key.startswith("lte_") else "solid"},
                                 hovertemplate="%{x:,} samples<br>loss %{y:.4g}<extra>" + label + "</extra>"))
    if res.floor is not None:
        fig.add_hline(y=max(res.floor, 1e-9), line_dash="dash", line_color=COLORS["lora"],
                      annotation_text=f"best possible rank-{s.rank} LoRA ({res.floor:.3f})")
    toy = res.settings["network"] == "toy"
    fig.update_layout(title="Validation loss vs training samples", xaxis_title="training samples",
                      yaxis_title="mean squared error" if toy else "held-out loss (nats per byte)",
                      yaxis_type="log" if toy else "linear", height=430, legend={"orientation": "h", "y": -0.22},
                      margin={"l": 60, "r": 20, "t": 50, "b": 60})
    return fig


def cost_figure(res) -> go.Figure:
    c = res.costs
    fig = make_subplots(rows=1, cols=2, subplot_titles=["bytes sent over the run", "memory per device"])
    comm = [("full-rank, all-reduce", c["full_allreduce"]["total"], COLORS["full"]),
            ("full-rank, parameter server", c["full_server"]["total"], "#969696"),
            ("LTE (float32 W)", c["lte"]["total"], COLORS["lte"]),
            ("LTE (4-bit W)", c["lte_4bit"]["total"], "#9ecae1")]
    fig.add_trace(go.Bar(x=[n for n, _, _ in comm], y=[max(v, 1) for _, v, _ in comm],
                         marker_color=[col for _, _, col in comm], text=[_mb(v) for _, v, _ in comm],
                         textposition="outside", cliponaxis=False, showlegend=False), row=1, col=1)
    mem = [("full-rank 3M", c["memory"]["full"], COLORS["full"]), ("LTE qM + 3M_lte", c["memory"]["lte"],
                                                                    COLORS["lte"]),
           ("LTE, 4-bit W", c["memory"]["lte_4bit"], "#9ecae1")]
    fig.add_trace(go.Bar(x=[n for n, _, _ in mem], y=[v for _, v, _ in mem], marker_color=[col for _, _, col in mem],
                         text=[_mb(v) for _, v, _ in mem], textposition="outside", cliponaxis=False,
                         showlegend=False), row=1, col=2)
    fig.update_yaxes(type="log", title_text="bytes", row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_layout(title=f"Communication and memory (N = {c['devices']} devices, M = {c['M']:,} parameters, "
                            f"M_lte = {c['M_lte']:,})", height=400, margin={"l": 60, "r": 20, "t": 80, "b": 60})
    return fig


# ----- summary and table ----------------------------------------------------------------------------------


def summary(res) -> str:
    from backends.lte import NETWORK_LABELS

    st, c = res.settings, res.costs
    f, lo, lt = res.final("full"), res.final("lora"), res.final("lte")
    lines = [f"**{NETWORK_LABELS[st['network']]}**, {st['steps']} steps x batch {st['batch']} "
             f"({st['steps'] * st['batch']:,} samples per scheme); LTE: {st['heads']} heads x rank {st['rank']} "
             f"(batch {st['batch'] // st['heads']} each), α = {st['alpha']:g} (s = {st['alpha'] / st['rank']:g}), "
             f"merge every T = {st['merge_every']}; other parameters {st['others']}. "
             f"Heads ran {'on Ray workers' if res.backend == 'ray' else 'in-process'} ({res.workers} worker"
             f"{'s' if res.workers != 1 else ''})." + (f" *{res.note}.*" if res.note else "")]
    if res.data_source:
        lines.append(f"Data: {res.data_source}.")
    lines.append(f"**Final validation loss: full-rank {f:.4g}, single LoRA {lo:.4g}, LTE {lt:.4g}**"
                 + "".join(f", {k.replace('lte_T', 'LTE T = ')} {res.final(k):.4g}" for k in res.losses
                           if k.startswith("lte_")) + ".")
    if res.floor is not None:
        verdict = ("below it: merging got past what any single rank-r update can reach" if lt < res.floor
                   else "not below it yet")
        lines.append(f"One rank-{st['rank']} LoRA can at best reach {res.floor:.3f} on this toy; LTE is {verdict}.")
    elif lt == lt and lo == lo:
        gap = (lo - lt) / max(lo - f, 1e-9)
        lines.append(f"LTE closes {gap:.0%} of the single LoRA's gap to full-rank training." if lt < lo else
                     "LTE has not beaten the single LoRA here (see the scale note: LTE needs more steps).")
    if res.head_similarity:
        lines.append(f"Heads' updates stay near-orthogonal: mean |cos| between them {res.head_similarity[-1]:.3f} "
                     "at the last merge.")
    lines.append(f"Communication: LTE sends {_mb(c['lte']['per_merge'])} per merge ({_mb(c['lte']['total'])} in "
                 f"all), a data-parallel full-rank run {_mb(c['full_allreduce']['per_step'])} per step with an "
                 f"all-reduce ({_mb(c['full_allreduce']['total'])} in all). Memory per device "
                 f"{_mb(c['memory']['lte'])} against {_mb(c['memory']['full'])}.")
    if res.stopped:
        lines.append(f"*Ended early ({res.stopped}): the curves show what was evaluated.*")
    elif res.phase != "done":
        lines.append(f"*Running: {res.phase} ({res.seconds:.0f} s so far).*")
    else:
        lines.append(f"Done in {res.seconds:.0f} s.")
    return "\n\n".join(lines)


def _loss(x: float) -> str:
    return f"{x:.4g}"


def cost_table(res) -> list[list]:
    c = res.costs
    n = c["devices"]
    return [
        ["full-rank, all-reduce", n, _loss(res.final("full")), _mb(c["full_allreduce"]["per_step"]),
         _mb(c["full_allreduce"]["total"]), _mb(c["memory"]["full"])],
        ["full-rank, parameter server", n, _loss(res.final("full")), _mb(c["full_server"]["per_step"]),
         _mb(c["full_server"]["total"]), _mb(c["memory"]["full"])],
        ["single LoRA", 1, _loss(res.final("lora")), "0", "0", _mb(c["memory"]["lora"])],
        [f"LTE, T = {res.settings['merge_every']}", n, _loss(res.final("lte")), _mb(c["lte"]["per_step"]),
         _mb(c["lte"]["total"]), _mb(c["memory"]["lte"])],
    ]


# ----- callback -------------------------------------------------------------------------------------------


def default_alpha(network) -> float:
    """The α a network's learning rates were tuned with (the toy 32, the LM 128)."""
    from backends.lte import DEFAULT_ALPHA

    return DEFAULT_ALPHA.get(network, 32.0)


def _backend(backend) -> str:
    b = str(backend or "in-process").lower()
    if b.startswith("ray"):
        return "ray"
    if b.startswith(("in-process", "in process", "local")):
        return "local"
    raise InputError(f"Run the heads in-process or on Ray, got {backend!r}.")


@guarded
@gpu
def run_lte(network, heads, rank, alpha, merge_every, other_ts, steps, batch, others, seed, backend, workers,
            progress: gr.Progress = gr.Progress()):
    """Full-rank, single LoRA and LTE from scratch at equal samples (the outputs named in RESULT), streamed after
    every evaluation."""
    from backends import lte

    caps = _caps()
    steps = check_count(steps, what="Steps", low=1, high=caps["steps"])
    heads = check_count(heads, what="Heads", low=1, high=caps["heads"])
    rank = check_count(rank, what="Rank", low=1, high=caps["rank"])
    batch = check_count(batch, what="Batch", low=1, high=caps["batch"])
    workers = check_count(workers, what="Workers", low=1, high=2 if public_mode() else 8)
    progress(0.0, desc="Building the network and the heads")
    last = None
    for res in lte.train_lte_iter(heads, rank, merge_every, steps, seed, _backend(backend), network=network,
                                  workers=workers, alpha=alpha, batch=batch, others=others,
                                  extra_merge_every=other_ts, deadline=Deadline(limits().max_run_s),
                                  progress=lambda f, m: progress(min(f, 1.0), desc=m)):
        last = res
        yield _pack(res, files=False)
    if last is not None:
        yield _pack(last, files=True)


def _pack(res, *, files: bool) -> tuple:
    header, rows = res.curve_rows()
    return RESULT.pack(summary=summary(res), curve=curve_figure(res), costs=cost_figure(res), table=cost_table(res),
                       csv=export_csv("lte-curves", header, rows, "validation loss against training samples")
                       if files else None,
                       json=export_json("lte", res.to_dict()) if files else None)


# ----- layout ---------------------------------------------------------------------------------------------


def build() -> None:
    intro(INTRO)
    explain(SCALE_NOTE)
    explain(FINDINGS)
    caps = _caps()
    with gr.Row():
        network = gr.Radio(NETWORK_CHOICES, value="toy", label="Network")
        heads = gr.Slider(1, caps["heads"], value=8, step=1, label="LTE heads N")
        rank = gr.Slider(1, caps["rank"], value=8, step=1, label="Rank r")
        alpha = gr.Number(32, label="α (s = α / r)", minimum=0.001)
    with gr.Row():
        merge_every = gr.Number(10, precision=0, label="Merge interval T (steps)")
        other_ts = gr.Textbox("1, 50", label="Also run LTE with T = (e.g. '1, 50'; empty: none)")
        steps = gr.Number(min(600, caps["steps"]), precision=0, label="Steps")
        batch = gr.Number(32, precision=0, label="Batch B (a multiple of N)")
    with gr.Row():
        others = gr.Radio(OTHER_CHOICES, value="average", label="Embeddings, output layer, norms (non-LoRA)")
        seed = gr.Number(0, precision=0, label="Seed")
        backend = gr.Radio(BACKEND_CHOICES, value="in-process", label="Run the heads",
                           info="Ray: one worker per share of the heads, each keeping its heads' LoRA factors and "
                                "optimizers between merges; the same numbers")
        workers = gr.Slider(1, 2 if public_mode() else 8, value=2, step=1, label="Ray workers",
                            info="no resume: a worker's heads live in its memory only")
    network.change(default_alpha, network, alpha, api_name="lte_default_alpha", api_visibility="undocumented")
    inputs = [network, heads, rank, alpha, merge_every, other_ts, steps, batch, others, seed, backend, workers]
    ex = gr.Examples(examples(), inputs=inputs, example_labels=EXAMPLE_LABELS, label="Examples (one click runs them)")
    with gr.Row():
        run = gr.Button("Train the three ways", variant="primary")
        stop = gr.Button("Stop")
    summary_md = gr.Markdown()
    with gr.Row():
        with gr.Column(scale=3):
            curve = gr.Plot(label="Validation loss vs samples")
        with gr.Column(scale=1):
            explain(CURVE_EXPLAIN)
    with gr.Row():
        with gr.Column(scale=3):
            costs = gr.Plot(label="Communication and memory")
        with gr.Column(scale=1):
            explain(COST_EXPLAIN)
    table = gr.Dataframe(headers=TABLE_HEADERS, interactive=False, label="Schemes")
    explain("Bytes are float32 (4 per parameter). M: all parameters of the network; M_lte: what one LTE head "
            "sends at a merge (its LoRA factors A and B, plus the other parameters when they are averaged). "
            "Devices: N for the parallel schemes; the single LoRA trains on one.")
    with gr.Row():
        csv = gr.File(label="Curves (CSV)")
        js = gr.File(label="Everything (JSON)")
    outputs = RESULT.wire(summary=summary_md, curve=curve, costs=costs, table=table, csv=csv, json=js)
    event = run.click(run_lte, inputs, outputs, api_name="lte_run", **HEAVY)
    ex_event = ex.load_input_event.then(run_lte, inputs, outputs, api_name="lte_run_example",
                                        api_visibility="undocumented", **HEAVY)
    stop.click(None, None, None, cancels=[event, ex_event])
