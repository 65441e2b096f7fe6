"""Selective prediction (ASPIRE): score each answer, abstain on the least sure, compare the scores."""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import plotly.graph_objects as go

from backends.config import check_count, check_number, limits
from backends.selective import DATASETS, LABELS, SCORES, evaluate_selective
from backends.selective.evaluate import DATASET_LABELS, Selective
from backends.selective.soft_prompt import DEFAULT_EPOCHS, DEFAULT_LR, DEFAULT_SOFT_TOKENS, learn_self_eval
from tabs.common import HEAVY, Outputs, export_dicts, export_json, gpu, guarded
from tabs.ui import explain, intro

TITLE = "Selective prediction"
SUMMARY = ("ASPIRE (Chen et al. 2023): answer only when a score says the answer is likely right; compare "
           "likelihood, entropies, self-evaluation and their mix by accuracy-coverage, AUACC and AUROC.")
ASSETS = Path(__file__).resolve().parent.parent / "assets" / "selective"
INTRO = """
**Selective prediction** answers a question only when a *selection score* says the answer is likely right, and
abstains otherwise. **ASPIRE** (Chen et al., EMNLP Findings 2023) scores an answer y by mixing its length-normalised
likelihood with the model's own judgement of it: g = (1 − α) · log f_norm(y|x) + α · log P(correct | x, y).
Here the model answers each question of a built-in set greedily, draws a few samples, and judges its answer
("Is the proposed answer correct? Yes/No"); every score then ranks the answers. A good score keeps accuracy high
while few questions are answered (the **accuracy-coverage curve**; its area is **AUACC**) and puts right answers
above wrong ones (**AUROC**). Correctness: the paper's rule, Rouge-L > 0.7 against a reference (SOTU questions);
for the arithmetic set, the last number of the answer must equal the reference (Rouge-L cannot read
"13 * 11 - 5 = 138"). The SOTU questions come with the passage BM25 ranks first (the 22 reworded questions first:
their top passage is often not the one holding the answer, so some answers are wrong); the arithmetic problems
ask for the calculation on one line.
"""
NOTES = {p: (ASSETS / f"{p}_note.md").read_text(encoding="utf-8") for p in ("tiny", "cpu")
         if (ASSETS / f"{p}_note.md").exists()}
RUN = Outputs("summary", "curves", "metrics", "alpha_plot", "table", "csv", "json", "state")
TUNE = Outputs("summary", "table", "curves", "csv")
METRIC_HEADERS = ["score", "AUROC", "AUROC 95 % CI", "AUACC", "AUACC 95 % CI"]
DATASET_CHOICES = [(DATASET_LABELS[d], d) for d in DATASETS]


def _fmt_ci(ci: tuple[float, float]) -> str:
    lo, hi = ci
    return "undefined" if lo != lo else f"{lo:.3f} – {hi:.3f}"


def _fmt(x: float) -> float | str:
    return "undefined" if x != x else round(x, 3)


def metric_rows(res) -> list[list]:
    """One row per score: AUROC and AUACC with their bootstrap intervals."""
    return [[LABELS[k], _fmt(res.auroc[k]), _fmt_ci(res.auroc_ci[k]), _fmt(res.auacc[k]), _fmt_ci(res.auacc_ci[k])]
            for k in res.auroc]


def curves_figure(curves: dict, title: str) -> go.Figure:
    fig = go.Figure()
    for k, c in curves.items():
        fig.add_trace(go.Scatter(x=c.coverage, y=c.accuracy, mode="lines", name=f"{LABELS[k]} ({c.auacc:.3f})",
                                 hovertemplate="coverage %{x:.2f}<br>accuracy %{y:.2f}<extra>"
                                 + LABELS[k] + "</extra>"))
    fig.update_layout(title=title, xaxis_title="coverage (fraction answered)", yaxis_title="accuracy of the answered",
                      yaxis={"range": [-0.02, 1.02]}, height=380, legend={"font": {"size": 10}},
                      margin={"l": 60, "r": 20, "t": 50, "b": 50})
    return fig


def alpha_figure(res: Selective) -> go.Figure:
    sw = res.alpha_sweep
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=sw["alpha"], y=sw["auroc"], mode="lines+markers", name="AUROC"))
    fig.add_trace(go.Scatter(x=sw["alpha"], y=sw["auacc"], mode="lines+markers", name="AUACC"))
    fig.add_vline(x=res.alpha, line_dash="dot", annotation_text=f"α = {res.alpha:g}")
    fig.update_layout(title="ASPIRE's mix as α goes from likelihood (0) to self-evaluation (1)", xaxis_title="α",
                      height=320, margin={"l": 60, "r": 20, "t": 50, "b": 50})
    return fig


def _summary(res: Selective) -> str:
    k = max(res.auroc, key=lambda s: res.auroc[s] if res.auroc[s] == res.auroc[s] else -1)
    undefined = ("\n\n**AUROC is undefined here**: every answer was right, or every one wrong; ask for more "
                 "questions.") if res.auroc["likelihood"] != res.auroc["likelihood"] else ""
    stopped = " The time budget ran out: these are the questions answered before it." if res.stopped_early else ""
    return (f"**{res.n} questions** from {DATASET_LABELS[res.dataset]}, `{res.model}`, {res.n_samples} samples each "
            f"(seed {res.seed}), in {res.seconds:.0f} s ({res.seconds / max(res.n, 1):.1f} s per question)."
            f"{stopped}\n\n"
            f"**Accuracy** of the greedy answers: **{res.accuracy:.0%}** ({sum(res.correct)} right) — correctness: "
            f"{res.rule}. Best AUROC here: **{LABELS[k]}** ({_fmt(res.auroc[k])}). The paper (CoQA, OPT-2.7B): "
            f"AUACC 91.23 → 92.63 and AUROC 74.61 → 80.25 with ASPIRE.{undefined}")


@guarded
@gpu
def run_selective(model: str, dataset: str, n_questions: float, n_samples: float, alpha: float, seed: float,
                  progress: gr.Progress = gr.Progress()):
    """Answer, sample and self-evaluate the first n questions of a set: the outputs named in RUN."""
    n = check_count(n_questions, what="Number of questions", low=2, high=120)
    res = evaluate_selective(dataset, model or None, n_samples=check_count(n_samples, what="Samples", low=2, high=10),
                             limit=n, alpha=check_number(alpha, what="alpha", low=0.0, high=1.0),
                             seed=check_count(seed, what="Seed", low=0, high=2**31 - 1),
                             time_budget_s=max(limits().time_budget_s, 1800), progress=lambda f, m: progress(f, desc=m))
    records = res.records()
    table = [[r["question"], r["answer"], r["references"], "yes" if r["correct"] else "no",
              *[r[k] for k in res.scores], r["samples"]] for r in records]
    return RUN.pack(summary=_summary(res),
                    curves=curves_figure(res.curves, "Accuracy-coverage curves (AUACC in brackets)"),
                    metrics=metric_rows(res), alpha_plot=alpha_figure(res), table=table,
                    csv=export_dicts("selective-answers", records, comment=f"{res.dataset}; correctness: {res.rule}"),
                    json=export_json("selective", res.to_dict()), state=res)


@guarded
@gpu
def run_tuning(state: Selective | None, n_soft: float, epochs: float, lr: float, seed: float,
               progress: gr.Progress = gr.Progress()):
    """Train the self-evaluation soft prompt on half the answered questions; the outputs named in TUNE."""
    if not isinstance(state, Selective):
        raise gr.Error("Run the evaluation above first: the soft prompt trains on its answered questions.",
                       print_exception=False)
    t = learn_self_eval(state, n_soft=check_count(n_soft, what="Soft tokens", low=1, high=32),
                        epochs=check_count(epochs, what="Epochs", low=1, high=10),
                        lr=check_number(lr, what="Learning rate", low=1e-5, high=0.1),
                        seed=check_count(seed, what="Seed", low=0, high=2**31 - 1),
                        time_budget_s=max(limits().time_budget_s, 1800), progress=lambda f, m: progress(f, desc=m))
    gain = t.test.auroc["learned"] - t.test.auroc["learned_init"]
    verdict = ("Tuning **raised** the held-out AUROC of the self-evaluation" if gain > 0.02 else
               "Tuning **did not help** on the held-out questions at this scale" if gain == gain else
               "The held-out AUROC is undefined (all right or all wrong): ask for more questions")
    md = (f"Trained θ_s ({t.n_soft} soft tokens, {t.epochs} epochs, lr {t.lr:g}) on {t.n_train_examples} labelled "
          f"answers of {t.n_train} questions with `{t.model}` in {t.seconds:.0f} s; training loss "
          f"{' → '.join(f'{x:.3f}' for x in t.losses)}. Held out: {t.n_test} questions, accuracy "
          f"{t.test.accuracy:.0%}. {verdict} (before {_fmt(t.test.auroc['learned_init'])}, after "
          f"{_fmt(t.test.auroc['learned'])}); with so few held-out questions the intervals are wide. "
          "θ_p (the paper's task-adaptation prompt) is omitted."
          f"{' Stopped by the time budget.' if t.stopped_early else ''}")
    return TUNE.pack(summary=md, table=metric_rows(t.test),
                     curves=curves_figure(t.test.curves, "Held-out accuracy-coverage, before and after tuning"),
                     csv=export_dicts("selective-soft-prompt", t.records, comment=f"losses {t.losses}"))


def build() -> None:
    reg = intro(INTRO, NOTES)
    state = gr.State(None)
    with gr.Row():
        model = gr.Dropdown(reg.lm_names(), value=reg.slots["base"], label="Model")
        dataset = gr.Radio(DATASET_CHOICES, value="cot", label="Question set")
        n_questions = gr.Slider(2, 120, value=8, step=1, label="Questions (from the start)")
        n_samples = gr.Slider(2, 10, value=5, step=1, label="Samples per question")
        alpha = gr.Slider(0.0, 1.0, value=0.25, step=0.05, label="α (ASPIRE's mix)")
        seed = gr.Number(0, precision=0, label="Seed")
    gr.Examples([["cot", 8, 5, 0.25, 0], ["rag", 8, 5, 0.25, 0], ["cot", 20, 3, 0.5, 1]],
                inputs=[dataset, n_questions, n_samples, alpha, seed], label="Examples")
    with gr.Row():
        run = gr.Button("Score the answers", variant="primary")
        stop = gr.Button("Stop")
    summary = gr.Markdown()
    with gr.Row():
        with gr.Column():
            curves = gr.Plot(label="Accuracy-coverage")
            explain("Answer the questions in order of decreasing score: at coverage c the best-scored fraction c is "
                    "answered, and the curve shows how many of those are right. A useful score keeps the left of the "
                    "curve high; a constant score is flat at the overall accuracy. AUACC is the curve's mean.")
        with gr.Column():
            alpha_plot = gr.Plot(label="α sweep")
            explain("ASPIRE's mix g at every α on the same answers: α = 0 is the likelihood alone, α = 1 the Yes/No "
                    "self-evaluation alone. The paper picks α on validation data (0.25 on its sets).")
    metrics = gr.Dataframe(headers=METRIC_HEADERS, interactive=False, label="AUROC and AUACC per score")
    explain("AUROC: the chance a right answer outscores a wrong one (0.5 = no better than chance). Intervals: "
            "percentile bootstrap over questions (1000 resamples). Entropies are negated so that higher = surer.")
    table = gr.Dataframe(headers=["question", "answer", "references", "correct", *[LABELS[k] for k in SCORES],
                                  "samples"], wrap=True, interactive=False, label="Per question")
    with gr.Row():
        csv = gr.File(label="Per-question scores (CSV)")
        json_file = gr.File(label="Everything (JSON)")
    event = run.click(run_selective, [model, dataset, n_questions, n_samples, alpha, seed],
                      RUN.wire(summary=summary, curves=curves, metrics=metrics, alpha_plot=alpha_plot, table=table,
                               csv=csv, json=json_file, state=state), api_name="selective_run", **HEAVY)
    stop.click(None, None, None, cancels=[event])

    with gr.Accordion("Self-evaluation learning (soft prompt, optional)", open=False):
        gr.Markdown("ASPIRE's stage 3: a soft prompt θ_s of l learnable vectors after question and answer is trained "
                    "(AdamW, cosine schedule, the model frozen) to make the model say *correct* or *wrong*, on the "
                    "labelled greedy and sampled answers of half of the questions scored above (plus each reference), "
                    "then judged on the other half. θ_s starts as the embeddings of a question (\"Is the proposed "
                    "answer correct or wrong?\"), so *before* is that prompt. An int8 model trains through its "
                    "float32 copy. A few minutes on a CPU for 20-30 questions.")
        with gr.Row():
            n_soft = gr.Slider(4, 32, value=DEFAULT_SOFT_TOKENS, step=1, label="Soft tokens l")
            epochs = gr.Slider(1, 10, value=DEFAULT_EPOCHS, step=1, label="Epochs")
            lr = gr.Number(DEFAULT_LR, label="Learning rate")
            tune = gr.Button("Train θ_s", variant="primary")
            stop_tune = gr.Button("Stop")
        tune_md = gr.Markdown()
        tune_curves = gr.Plot(label="Held-out accuracy-coverage")
        explain("On the held-out questions: the untuned scores, the soft prompt at its initial text, after tuning, and "
                "ASPIRE's mix with the tuned P(correct).")
        tune_table = gr.Dataframe(headers=METRIC_HEADERS, interactive=False, label="Held-out AUROC and AUACC")
        tune_csv = gr.File(label="Held-out scores (CSV)")
        tune_event = tune.click(run_tuning, [state, n_soft, epochs, lr, seed],
                                TUNE.wire(summary=tune_md, table=tune_table, curves=tune_curves, csv=tune_csv),
                                api_name="selective_tune", **HEAVY)
        stop_tune.click(None, None, None, cancels=[tune_event])
