"""Tab "Copying": Repeat After Me (Jelassi et al. 2024): transformers copy what fixed-state models cannot."""
from __future__ import annotations

import math
import time

import gradio as gr
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from backends.config import InputError, check_count, limits, public_mode
from backends.decoding import Deadline
from tabs.common import HEAVY, Outputs, export_csv, export_json, gpu, guarded
from tabs.ui import explain, intro

TITLE = "Copying"
SUMMARY = ("Repeat After Me (Jelassi et al. 2024): transformers copy long strings that fixed-state recurrent "
           "models cannot; tiny models trained here and the packaged LMs on copy and phone-book lookup.")
INTRO = """
**Repeat After Me** (Jelassi, Brandfonbrener, Kakade and Malach, 2024). A *generalized state space model*
(GSSM: an RNN, an LSTM, Mamba, linear attention) reads its input into a **fixed-size state**; a transformer keeps
every token it has read. The copy task makes the difference sharp: read "⟨BOS⟩ x₁…x_L ⟨COPY⟩" with x uniform
over D tokens, then write x₁…x_L. A uniform string carries **L·log₂D bits**, so a state of mem(S) bits cannot
hold it once L·log₂D exceeds mem(S): **Thm 2.7**, any GSSM errs with probability > 1 − |S|/D^L; **Cor 2.8**, when
mem(S) < L·log₂D − 1 it errs more often than not. On the other side, **Thm 2.3**: a 2-layer transformer copies
by *n-gram lookup* (find the earlier occurrence of the last n tokens written and emit the token that followed),
failing only when some n-gram repeats in x (chance < L²·D⁻ⁿ, Lemma 2.4), with a size that grows only as log L.
The paper trains 160M-parameter transformers and Mamba and a 40M LSTM: transformers learn to copy from far
fewer examples, and with NoPE or Hard-ALiBi (each head sees only its last m positions) they copy strings much
longer than any seen in training, where GSSMs fall to zero; pretrained Pythia beats larger Mamba models at
copying text and at phone-book lookup.
"""
SCALE_NOTE = """
**How far this is from the paper, and what the defaults show (measured on this 2-core machine).** The paper:
transformers and Mamba of about 160M parameters and a 40M LSTM, D = 26 letters, trained on strings up to 50
tokens and tested to 1,000; pretrained Pythia 410M–2.8B against Mamba 370M–2.8B. Here: a **2-layer transformer
of d = 64 (about 0.1M parameters)** and an **LSTM with the same parameter count**, a few hundred steps of
batch 64, strings up to 20 tokens, tested to 80. No Mamba: its package (mamba-ssm) needs CUDA and no
pretrained state-space model ships with the workbench; a small **diagonal selective SSM in plain PyTorch** is
offered instead (a sequential scan, slow but exact). The pretrained panel runs the packaged LMs (at most 1.5B
parameters, int8/4-bit weights) on a handful of prompts per size.

**Measured (seed 0, bench/bench_copying.py).** The default (D = 64, strings up to 20, 600 steps, about 2.5
minutes): the **Hard-ALiBi transformer** copies 91 % of strings at L = 20, **81 % at 30, 61 % at 40 (twice the
training length)**, 33 % at 60 and 5 % at 80, with 97–99 % of tokens right at every length; the **LSTM with the
same 0.11M parameters copies 0 % at every length, even L = 10** (34 % of tokens). **RoPE** instead of Hard-ALiBi:
86 % at L = 20, then **0 % from L = 30**, as in the paper. The transformer's losses beyond training follow the
chance of a repeated bigram (the dotted line): it copies by **bigram lookup**, the mechanism of Thm 2.3 with
n = 2, and a repeated bigram makes it jump. That is also why the default alphabet is 64 and not the paper's 26:
at D = 26 bigrams repeat often (the third example: 80 % at L = 20, 41 % at 40). The quick example (strings up to
10, 300 steps, about 30 s) shows the same: transformer 100 % at L = 5, 82 % at 10, 49 % at 15; LSTM 0 %.

**The bigger state, honestly.** Trained on D = 26 and L ≤ 10, an LSTM of width 110 (7,040 state bits at 32 bits a
float) falls through 50 % at L ≈ 6.3; with twice the state (width 220) at L ≈ 7.3: it moves, but by about 16 %,
not the factor 2 of Cor 2.8's bound, which for these states lies at L ≈ 1,500 and 3,000. The bound is about
information; a small LSTM trained for 600 steps is limited by what it learns to store (about 0.08–0.14 bits per
state number), long before its state is full. NoPE needs more steps than Hard-ALiBi (after 300: 54 % at L = 5),
and the diagonal SSM in plain PyTorch is slow (minutes per hundred steps on two cores) and learned nothing in
300 steps (0 %): treat it as a demonstration of the recurrence, not a Mamba reproduction.

**Pretrained (tiny profile, 4 prompts per size).** Phone-book lookup: SmolLM2-135M 100 % at 10 entries, 75 % at
20 and 40; Gemma 3 270M 100 % at all three (540 s for both on the busy machine). Cpu profile, 5 / 10 / 20
entries, 3 prompts: Qwen2.5-Coder 1.5B 100 / 100 / 100 %, 0.5B 100 / 67 / 100 % (17 minutes for the two while
other jobs held the cores, most of it the 1.5B, which is why only the 0.5B is ticked by default). All are
transformers. Copying a held-out SOTU passage (tiny profile, 2 passages per size, 10 / 20 / 40 words, 155 s):
SmolLM2 50 / 50 / 0 % exact (95 / 53 / 49 % of words before the first error), Gemma 50 / 100 / 50 %; with the
words shuffled SmolLM2 50 / 0 / 50 %, Gemma 0 / 50 / 0 % (80 / 50 / 0 % of words): text without its language
prior is harder to copy, the paper's trend, on two prompts a point. This panel shows how lookup and copying
degrade with size in attention models; the paper's comparison with Mamba cannot be made here.
"""
TRAIN_EXPLAIN = ("String accuracy (greedy decoding: the whole copy must be right) against the string length, one "
                 "line per model; the shaded band is beyond the training lengths. The paper's effect: the "
                 "transformer keeps copying past the training length while the fixed-state models fall to zero. "
                 "Dotted: the chance that a uniform string has no repeated n-gram (n = 2, 3), which is what "
                 "n-gram lookup (Thm 2.3) needs: a transformer copying by bigram lookup follows the n = 2 line.")
LOSS_EXPLAIN = ("Training loss (cross-entropy on the copied half only, nats per token) per step. Every model sees "
                "the same batches. A loss near 0 means the copy is right at the training lengths; log D "
                "(dashed) is guessing.")
BITS_EXPLAIN = ("The state-size argument in numbers. Bits needed to copy (L·log₂D, rising) against each recurrent "
                "model's state (floats × bits per float, flat); where the rising line crosses a state line, "
                "Cor 2.8 says that model must err more often than not, and Thm 2.7's lower bound on its error "
                "(right axis) leaves 0. These are information bounds: with 32-bit floats they sit far beyond "
                "the lengths where the trained LSTM already fails; the trained network uses its state far less "
                "efficiently than the bound allows (the table gives the bits per state number its failure "
                "length implies). The transformer has no fixed state: its memory grows with the input.")
PRE_EXPLAIN = ("Left: share of prompts answered exactly right (lookup: the number; copying: the whole passage). "
               "Right: partial credit (lookup: digits in place; copying: share of words copied before the first "
               "error). Each point is a handful of prompts: read trends, not the second decimal.")

ARCH_CHOICES = [("transformer", "transformer"), ("LSTM", "lstm"),
                ("diagonal SSM (plain PyTorch, slow: minutes per 100 steps)", "ssm")]
POSITION_CHOICES = [("Hard-ALiBi (half the heads local)", "hard_alibi"), ("NoPE", "nope"), ("ALiBi", "alibi"),
                    ("RoPE", "rope")]
TASK_CHOICES = [("phone-book lookup", "lookup"), ("copy natural text", "copy_text"),
                ("copy text, words shuffled", "copy_shuffled")]
COLORS = {"transformer": "#e6550d", "lstm": "#3182bd", "ssm": "#31a354"}
DASHES = ["solid", "dash", "dot", "dashdot"]
# archs, position, D, train length, test lengths, steps, seed, state scales, bits per float
EXAMPLES = [
    [["transformer", "lstm"], "hard_alibi", 64, 10, "5, 10, 15, 20, 30", 300, 0, "1", 32],
    [["transformer", "lstm"], "hard_alibi", 64, 20, "10, 20, 30, 40, 60, 80", 600, 0, "1", 32],
    [["transformer", "lstm"], "hard_alibi", 26, 20, "10, 20, 30, 40, 60, 80", 600, 0, "1", 32],
    [["lstm"], "hard_alibi", 26, 10, "2, 4, 6, 8, 10, 15, 20", 600, 0, "1, 2", 32],
    [["transformer"], "rope", 64, 20, "10, 20, 30, 40, 60, 80", 600, 0, "1", 32],
    [["transformer"], "nope", 64, 10, "5, 10, 15, 20, 30", 300, 0, "1", 32],
]
EXAMPLE_LABELS = ["Quick look: D = 64, lengths ≤ 10, 300 steps (about a minute)",
                  "The default: D = 64, lengths ≤ 20, tested to 80, 600 steps (a few minutes)",
                  "The paper's alphabet D = 26: bigram repeats limit the transformer",
                  "Bigger recurrent state: LSTM and LSTM with twice the state",
                  "RoPE instead of Hard-ALiBi: length generalisation breaks",
                  "NoPE transformer, quick settings: it learns more slowly than Hard-ALiBi"]
PRE_EXAMPLES = [["lookup", "5, 10, 20", 3, 0], ["lookup", "10, 20, 40", 4, 0], ["copy_text", "10, 20, 40", 2, 0],
                ["copy_shuffled", "10, 20, 40", 2, 0]]
PRE_LABELS = ["Phone-book lookup, 5 to 20 entries (a minute or two)", "Lookup, 10 to 40 entries (several minutes)",
              "Copy a SOTU passage, 10 to 40 words", "Copy the same kind of passage with its words shuffled"]
TRAIN = Outputs("summary", "accuracy", "loss", "bits", "table", "samples", "csv", "json")
PRE = Outputs("summary", "plot", "table", "csv", "json")
TABLE_HEADERS = ["model", "parameters", "state numbers", "state bits", "50 % crossing L",
                 "Cor 2.8 length", "implied bits per state number", "train s"]


# ----- figures --------------------------------------------------------------------------------------------


def _style(key: str) -> dict:
    arch, _, scale = key.partition("-x")
    k = int(scale) if scale else 1
    return {"color": COLORS.get(arch, "#636363"), "dash": DASHES[min(3, int(math.log2(k)))] if k else "solid"}


def _no_repeat(length: int, alphabet: int, n: int) -> float:
    """Chance that a uniform string of ``length`` has no repeated n-gram (Poisson approximation over pairs)."""
    pairs = max(0, length - n + 1) * max(0, length - n) / 2
    return math.exp(-pairs / alphabet ** n)


def accuracy_figure(res) -> go.Figure:
    s = res.settings
    fig = go.Figure()
    lens = s["test_lens"]
    top = max(lens)
    if top > s["train_len"]:
        fig.add_vrect(x0=s["train_len"], x1=top, fillcolor="rgba(150,150,150,0.15)", line_width=0,
                      annotation_text="beyond training", annotation_position="top left")
    if "transformer" in res.runs:
        xs = list(range(1, top + 1))
        for n, dash in ((2, "dot"), (3, "dashdot")):
            fig.add_trace(go.Scatter(x=xs, y=[_no_repeat(x, s["alphabet"], n) for x in xs], mode="lines",
                                     name=f"no repeated {n}-gram", line={"color": "#bdbdbd", "dash": dash}))
    for key, run in res.runs.items():
        if run.accuracy:
            xs = sorted(run.accuracy)
            fig.add_trace(go.Scatter(x=xs, y=[run.accuracy[x] for x in xs], mode="lines+markers", name=run.label,
                                     line=_style(key), customdata=[run.token_accuracy[x] for x in xs],
                                     hovertemplate="L = %{x}<br>string accuracy %{y:.0%}<br>per-token "
                                                   "%{customdata:.1%}<extra>" + run.label + "</extra>"))
    fig.update_layout(title=f"Copy accuracy vs string length (D = {s['alphabet']}, trained on L ≤ {s['train_len']})",
                      xaxis_title="string length L", yaxis_title="string accuracy (greedy)", height=420,
                      legend={"orientation": "h", "y": -0.2}, margin={"l": 60, "r": 20, "t": 50, "b": 60})
    fig.update_yaxes(range=[-0.02, 1.05], tickformat=".0%")
    return fig


def loss_figure(res) -> go.Figure:
    fig = go.Figure()
    for key, run in res.runs.items():
        fig.add_trace(go.Scatter(x=run.steps, y=run.losses, mode="lines", name=run.label, line=_style(key)))
    fig.add_hline(y=math.log(res.settings["alphabet"]), line_dash="dash", line_color="grey",
                  annotation_text="log D (guessing)")
    fig.update_layout(title="Training loss on the copied half", xaxis_title="step", yaxis_title="loss (nats per token)",
                      height=340, legend={"orientation": "h", "y": -0.25}, margin={"l": 60, "r": 20, "t": 50, "b": 60})
    return fig


def bits_figure(res) -> go.Figure:
    from backends.copying import bits_to_copy, cor28_length, thm27_error_bound

    s = res.settings
    d = s["alphabet"]
    states = {k: b for k, b in res.state_bits.items() if b is not None}
    top = max([max(s["test_lens"])] + [min(cor28_length(b, d) * 1.3, 5000) for b in states.values()])
    xs = sorted({int(x) for x in [1 + i * (top - 1) / 200 for i in range(201)]})
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=xs, y=[bits_to_copy(x, d) for x in xs], mode="lines", name="bits to copy, L·log₂D",
                             line={"color": "black"}), secondary_y=False)
    for k, b in states.items():
        run = res.runs[k]
        fig.add_trace(go.Scatter(x=[xs[0], xs[-1]], y=[b, b], mode="lines", name=f"{run.label}: state {b:,} bits",
                                 line={**_style(k), "width": 1}), secondary_y=False)
        fig.add_trace(go.Scatter(x=xs, y=[thm27_error_bound(b, x, d) for x in xs], mode="lines",
                                 name=f"{run.label}: Thm 2.7 error bound", line={**_style(k), "width": 3},
                                 opacity=0.5), secondary_y=True)
        fail = res.crossing_length(k)
        if fail is not None:
            fig.add_trace(go.Scatter(x=[fail], y=[bits_to_copy(fail, d)], mode="markers", marker={
                "symbol": "x", "size": 12, "color": _style(k)["color"]}, name=f"{run.label}: measured failure"),
                secondary_y=False)
    fig.update_layout(title=f"State bits vs bits to copy ({s['bits_per_float']} bits per float)", height=400,
                      legend={"orientation": "h", "y": -0.25}, margin={"l": 60, "r": 60, "t": 50, "b": 60})
    fig.update_xaxes(title_text="string length L", type="log")
    fig.update_yaxes(title_text="bits", type="log", secondary_y=False)
    fig.update_yaxes(title_text="error lower bound", range=[0, 1.05], secondary_y=True)
    return fig


def pretrained_figure(res) -> go.Figure:
    from backends.copying import TASK_LABELS

    fig = make_subplots(rows=1, cols=2, subplot_titles=["exactly right", "partial credit"])
    palette = ["#e6550d", "#3182bd", "#31a354", "#756bb1", "#636363", "#fd8d3c"]
    for i, m in enumerate(res.models):
        xs = sorted(res.accuracy[m])
        for col, data in ((1, res.accuracy[m]), (2, res.partial[m])):
            fig.add_trace(go.Scatter(x=xs, y=[data[x] for x in xs], mode="lines+markers", name=m,
                                     line={"color": palette[i % 6]}, showlegend=col == 1, legendgroup=m),
                          row=1, col=col)
    unit = "phone-book entries" if res.task == "lookup" else "words to copy"
    fig.update_xaxes(title_text=unit)
    fig.update_yaxes(range=[-0.02, 1.05], tickformat=".0%")
    fig.update_layout(title=f"{TASK_LABELS[res.task]}: accuracy vs {unit}", height=380,
                      legend={"orientation": "h", "y": -0.25}, margin={"l": 60, "r": 20, "t": 70, "b": 60})
    return fig


# ----- summaries and tables -------------------------------------------------------------------------------


def state_table(res) -> list[list]:
    from backends.copying import cor28_length

    d = res.settings["alphabet"]
    rows = []
    for k, run in res.runs.items():
        bits = res.state_bits[k]
        fail = res.crossing_length(k) if run.done else None
        implied = round(fail * math.log2(d) / run.state_floats, 3) if fail and run.state_floats else None
        rows.append([run.label, run.params, run.state_floats if run.state_floats is not None else "grows with L",
                     bits if bits is not None else "–", round(fail, 1) if fail is not None else "not in the range",
                     cor28_length(bits, d) if bits is not None else "–", implied if implied is not None else "–",
                     round(run.seconds, 1)])
    return rows


def train_summary(res) -> str:
    s = res.settings
    beyond = [n for n in s["test_lens"] if n > s["train_len"]]
    lines = [f"Alphabet D = {s['alphabet']} ({math.log2(s['alphabet']):.2f} bits a token), training lengths 1–"
             f"{s['train_len']}, {s['steps']} steps of batch {s['batch_size']}, seed {s['seed']}; parameter budget "
             f"{s.get('param_budget', 0):,} (the transformer's)."]
    for k, run in res.runs.items():
        if not run.accuracy:
            continue
        far = max(run.accuracy)
        bits = res.state_bits[k]
        state = f"state {run.state_floats} numbers = {bits:,} bits" if bits is not None else "no fixed state"
        lines.append(f"- **{run.label}** ({run.params:,} parameters, {state}): string accuracy "
                     + ", ".join(f"{run.accuracy[n]:.0%} at L = {n}" for n in sorted(run.accuracy))
                     + f"; per-token {run.token_accuracy[far]:.1%} at L = {far}.")
    t, rec = res.runs.get("transformer"), [r for r in res.runs.values() if r.arch != "transformer" and r.accuracy]
    if t and t.accuracy and rec and beyond:
        n = beyond[0]
        best = max(r.accuracy.get(n, 0.0) for r in rec)
        word = ("copies beyond its training length where the fixed-state models do not" if t.accuracy[n] > best + 0.2
                else "does not clearly beat the fixed-state models beyond training here")
        lines.append(f"**At L = {n} (beyond training) the transformer {word}: {t.accuracy[n]:.0%} against "
                     f"{best:.0%}.**")
    if res.stopped:
        lines.append(f"*Ended early ({res.stopped}): the models not trained are left out.*")
    elif not res.complete:
        lines.append(f"*Running: {res.phase} ({res.seconds:.0f} s so far).*")
    else:
        lines.append(f"Done in {res.seconds:.0f} s. One seed of tiny models: rerun with other seeds before trusting "
                     "a difference of a few points.")
    items = [x for x in lines[1:] if x.startswith("- ")]
    rest = [x for x in lines[1:] if not x.startswith("- ")]
    return "\n\n".join([lines[0], "\n".join(items), *rest])


def samples_markdown(res) -> str:
    out = []
    for run in res.runs.values():
        for sm in run.samples:
            mark = "right" if sm["right"] else "wrong"
            out.append(f"**{run.label}**, L = {sm['length']} ({mark}):  \ninput `{sm['input']}`  \n"
                       f"output `{sm['output']}`")
    return "\n\n".join(out) or "*Greedy copies appear here after each model's test.*"


# ----- callbacks ------------------------------------------------------------------------------------------


def _scales(text) -> list[int]:
    parts = [p for p in str(text or "1").replace(";", ",").replace(" ", ",").split(",") if p.strip()]
    return [check_count(p, what="State scale", low=1, high=8) for p in parts] or [1]


def _step_cap() -> int:
    return 500 if public_mode() else 5000


@guarded
@gpu
def run_copy(archs, position, alphabet, train_len, test_lens, steps, seed, scales, bits,
             progress: gr.Progress = gr.Progress()):
    """Train the chosen models on the copy task and test them at every length (the outputs named in TRAIN),
    streamed while they train."""
    from backends import copying as C

    steps = check_count(steps, what="Training steps", low=1, high=_step_cap())
    if not archs:
        raise InputError("Pick at least one architecture to train.")
    last, shown = None, 0.0
    for res in C.copy_experiment_iter(list(archs), train_len, test_lens, steps, seed, alphabet=alphabet,
                                      position=position, state_scales=_scales(scales), bits_per_float=bits,
                                      lr=3e-3, deadline=Deadline(limits().max_run_s),
                                      progress=lambda f, m: progress(min(f, 1.0), desc=m)):
        last = res
        if time.monotonic() - shown > 2.0 or res.phase.startswith("testing"):
            shown = time.monotonic()
            yield _pack_train(res, files=False)
    if last is not None:
        yield _pack_train(last, files=True)


def _pack_train(res, *, files: bool) -> tuple:
    header, rows = res.accuracy_rows()
    return TRAIN.pack(summary=train_summary(res), accuracy=accuracy_figure(res), loss=loss_figure(res),
                      bits=bits_figure(res), table=state_table(res), samples=samples_markdown(res),
                      csv=export_csv("copying-accuracy", header, rows, "string accuracy by greedy decoding; "
                                     "token accuracy teacher-forced") if files else None,
                      json=export_json("copying", res.to_dict()) if files else None)


@guarded
@gpu
def run_pretrained(models, task, sizes, trials, seed, progress: gr.Progress = gr.Progress()):
    """Lookup or copying with the chosen packaged LMs (the outputs named in PRE), streamed per size."""
    from backends import copying as C

    if not models:
        raise InputError("Pick at least one model.")
    if isinstance(sizes, str):
        sizes = [p for p in sizes.replace(";", ",").replace(" ", ",").split(",") if p.strip()]
    if public_mode():  # a shared demo: prompts of a few thousand tokens at most, three models
        sizes = [check_count(x, what="Each size (public demo)", low=1, high=60) for x in (sizes or [])]
        trials = check_count(trials, what="Prompts per size (public demo)", low=1, high=5)
        if len(models) > 3:
            raise InputError("Pick at most 3 models on the public demo.")
    budget = min(limits().max_run_s, 600.0)
    last = None
    for res in C.pretrained_iter(task, list(models), sizes, trials, seed, deadline=Deadline(budget),
                                 progress=lambda f, m: progress(min(f, 1.0), desc=m)):
        last = res
        yield _pack_pre(res, files=False)
    if last is not None:
        yield _pack_pre(last, files=True)


def _pack_pre(res, *, files: bool) -> tuple:
    from backends.copying import TASK_LABELS

    lines = [f"**{TASK_LABELS[res.task]}**, {res.settings['trials']} prompts per size, greedy decoding, seed "
             f"{res.settings['seed']}."]
    for m in res.models:
        if res.accuracy[m]:
            lines.append(f"- **{m}**: " + ", ".join(f"{a:.0%} at {n}" for n, a in sorted(res.accuracy[m].items())))
    if res.stopped:
        lines.append(f"*Ended early ({res.stopped}).*")
    elif res.phase != "done":
        lines.append(f"*Running: {res.phase} ({res.seconds:.0f} s so far).*")
    else:
        lines.append(f"Done in {res.seconds:.0f} s.")
    header, rows = res.rows()
    table = [[r[0], r[2], r[4], "yes" if r[5] else "no", r[6], r[7][:80], r[8][:80]] for r in rows]
    return PRE.pack(summary="\n".join(lines), plot=pretrained_figure(res), table=table,
                    csv=export_csv("copying-pretrained", header, rows) if files else None,
                    json=export_json("copying-pretrained", res.to_dict()) if files else None)


# ----- layout ---------------------------------------------------------------------------------------------


def _train_panel() -> None:
    gr.Markdown("Train a tiny transformer and fixed-state models with the same parameter count on the copy task, "
                "then test them at every length, including lengths longer than any seen in training.")
    with gr.Row():
        archs = gr.CheckboxGroup(ARCH_CHOICES, value=["transformer", "lstm"], label="Architectures")
        position = gr.Radio(POSITION_CHOICES, value="hard_alibi", label="Transformer positions")
    with gr.Row():
        alphabet = gr.Number(64, precision=0, label="Alphabet size D", minimum=2, maximum=256)
        train_len = gr.Number(20, precision=0, label="Training lengths up to", minimum=1, maximum=200)
        test_lens = gr.Textbox("10, 20, 30, 40, 60, 80", label="Test lengths")
        steps = gr.Number(600, precision=0, label="Training steps", minimum=1, maximum=_step_cap())
    with gr.Row():
        seed = gr.Number(0, precision=0, label="Seed")
        scales = gr.Textbox("1", label="Recurrent state scales (e.g. 1, 2: also train with twice the state)")
        bits = gr.Number(32, precision=0, label="Bits per float (state bits)", minimum=1, maximum=64)
    inputs = [archs, position, alphabet, train_len, test_lens, steps, seed, scales, bits]
    ex = gr.Examples(EXAMPLES, inputs=inputs, example_labels=EXAMPLE_LABELS, label="Examples (one click runs them)")
    with gr.Row():
        run = gr.Button("Train and test", variant="primary")
        stop = gr.Button("Stop")
    summary = gr.Markdown()
    with gr.Row():
        with gr.Column(scale=3):
            acc = gr.Plot(label="Accuracy vs length")
        with gr.Column(scale=1):
            explain(TRAIN_EXPLAIN)
    with gr.Row():
        with gr.Column(scale=3):
            loss = gr.Plot(label="Training loss")
        with gr.Column(scale=1):
            explain(LOSS_EXPLAIN)
    with gr.Row():
        with gr.Column(scale=3):
            bits_plot = gr.Plot(label="State bits")
        with gr.Column(scale=1):
            explain(BITS_EXPLAIN)
    table = gr.Dataframe(headers=TABLE_HEADERS, interactive=False, label="Models and their state")
    explain("50 % crossing: the length where string accuracy falls through 50 %, interpolated between the test "
            "lengths around it. Cor 2.8 length: the shortest L "
            "at which a state of that many bits must err more often than not. Implied bits per state number: "
            "failure length × log₂D / state numbers, how much the trained model actually keeps per number.")
    samples = gr.Markdown(label="Greedy copies")
    with gr.Row():
        csv = gr.File(label="Accuracy by length (CSV)")
        js = gr.File(label="Everything (JSON)")
    outputs = TRAIN.wire(summary=summary, accuracy=acc, loss=loss, bits=bits_plot, table=table, samples=samples,
                         csv=csv, json=js)
    event = run.click(run_copy, inputs, outputs, api_name="copying_train", **HEAVY)
    ex_event = ex.load_input_event.then(run_copy, inputs, outputs, api_name="copying_train_example",
                                        api_visibility="undocumented", **HEAVY)
    stop.click(None, None, None, cancels=[event, ex_event])


def _pretrained_panel(reg) -> None:
    from backends.copying import default_models, packaged_lms

    gr.Markdown("The packaged language models on the paper's two pretrained tests: phone-book lookup (\"Name: "
                "number\" lines, two example queries, then the query) and copying a passage of held-out State of "
                "the Union text, as is or with its words shuffled (one example copy shown first). No pretrained "
                "state-space model ships here (no Mamba weights; mamba-ssm needs CUDA), so this panel shows how "
                "transformers of several sizes fare, not the paper's Pythia-against-Mamba gap.")
    lms = packaged_lms(reg)
    with gr.Row():
        models = gr.CheckboxGroup(lms, value=[m for m in default_models(reg) if m in lms], label="Models")
        task = gr.Radio(TASK_CHOICES, value="lookup", label="Task")
    with gr.Row():
        sizes = gr.Textbox("5, 10, 20", label="Sizes (entries in the book, or words to copy)")
        trials = gr.Number(3, precision=0, label="Prompts per size", minimum=1, maximum=50)
        seed = gr.Number(0, precision=0, label="Seed")
    inputs = [models, task, sizes, trials, seed]
    ex = gr.Examples(PRE_EXAMPLES, inputs=[task, sizes, trials, seed], example_labels=PRE_LABELS,
                     label="Examples (one click runs them with the models ticked)")
    with gr.Row():
        run = gr.Button("Run the pretrained test", variant="primary")
        stop = gr.Button("Stop")
    summary = gr.Markdown()
    with gr.Row():
        with gr.Column(scale=3):
            plot = gr.Plot(label="Accuracy vs size")
        with gr.Column(scale=1):
            explain(PRE_EXPLAIN)
    table = gr.Dataframe(headers=["model", "size", "prompt tokens", "right", "partial", "expected", "produced"],
                         interactive=False, label="Prompts")
    with gr.Row():
        csv = gr.File(label="Every prompt (CSV)")
        js = gr.File(label="Everything (JSON)")
    outputs = PRE.wire(summary=summary, plot=plot, table=table, csv=csv, json=js)
    event = run.click(run_pretrained, inputs, outputs, api_name="copying_pretrained", **HEAVY)
    ex_event = ex.load_input_event.then(run_pretrained, inputs, outputs, api_name="copying_pretrained_example",
                                        api_visibility="undocumented", **HEAVY)
    stop.click(None, None, None, cancels=[event, ex_event])


def build() -> None:
    reg = intro(INTRO)
    explain(SCALE_NOTE)
    with gr.Tabs():
        with gr.Tab("Train tiny models on copying"):
            _train_panel()
        with gr.Tab("Pretrained models: lookup and copying"):
            _pretrained_panel(reg)


