"""Detector tab: Binoculars zero-shot detection, per-token view, batch scoring and the built-in benchmark."""
from __future__ import annotations

import json
import unicodedata

import gradio as gr

from backends import detector as D
from backends.config import InputError, check_count, check_number, check_text, limits
from backends.models import registry
from backends.uploads import read_text_table
from tabs import plots
from tabs.common import HEAVY, Outputs, export_csv, export_dicts, export_json, failed_note, gpu, guarded, stream_sweep
from tabs.ui import explain, sweep_controls

TITLE = "Detector"
SUMMARY = ("Binoculars (Hans et al. 2024): zero-shot detection of machine-generated text from the ratio of a "
           "model's perplexity to two models' cross-perplexity, per token.")
EXAMPLES = json.loads((D.ASSETS / "examples.json").read_text())
THRESHOLD_MODES = ["default for this pair", "custom"]
DETECT = Outputs("verdict", "gauge", "strip", "lines", "export")
BATCH = Outputs("table", "export", "summary", "roc")
EVALUATION = Outputs("roc", "summary", "export")
BATCH_HEADERS = ["row", "text", "score", "log_ppl", "log_xppl", "n_tokens", "verdict", "label"]

INTRO = """
**Binoculars** (Hans et al. 2024) asks how surprising a text is to an *observer* model (log-perplexity),
relative to how surprising the *performer* model's own predictions are to the observer on the same text
(log cross-perplexity). Machine text is unsurprising *for what it is*: its score is low. Human text
diverges from what models expect, so its score is higher. Perplexity alone is fooled by strange prompts
(the capybara example); the ratio is not, or much less.
"""

SINGLE_NOTE = """
*Single-model mode:* on the tiny profile observer and performer are both SmolLM2-135M-Instruct (no small
packaged pair shares a tokenizer), so the denominator is the model's mean predictive entropy and one
forward pass gives both terms. The paper's pair is Falcon-7B / Falcon-7B-instruct (GPU profile). The default
threshold here is calibrated on the built-in benchmark, not the paper's.
"""


PAIR_NOTE = """
*Two models, one tokenizer:* on the cpu profile the observer is Qwen2.5-Coder-0.5B-Instruct and the performer
Qwen2.5-Coder-1.5B-Instruct, both in int8: two sizes of one instruction-tuned family rather than the paper's
base/instruct pair (Falcon-7B / Falcon-7B-instruct, the GPU profile). **The paper's effect does not show with this
pair:** on a sample of the built-in benchmark (25 human paragraphs, 25 texts from each of four small models) the
two-model score reaches AUROC 0.65, below perplexity alone (0.67) and below single-model Binoculars with the 0.5B
model (0.78). It separates the Qwen models' own texts (AUROC 0.85) but scores SmolLM2's texts as *more* human than
the human paragraphs (0.32). Read its verdicts as a demonstration of the method; the default threshold is
calibrated on that sample (see the Benchmark tab, where you can evaluate more texts or another pair).
"""

EXPLAIN_STRIP = """
Each token coloured by its **surprise** under the numerator model (−log p, nats): orange is surprising, blue
expected. Hover a token for its expected surprise (the cross-entropy term).
"""


def _caution(text: str) -> str:
    """A warning for text the detector is known to handle badly (non-English, junk)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return "The text has no letters; the score means little."
    non_latin = sum(1 for c in letters if not unicodedata.name(c, "").startswith("LATIN")) / len(letters)
    if non_latin > 0.3:
        return ("Much of this text is not in Latin script. Binoculars has poor recall on low-resource "
                "languages and small models know little of them: treat the verdict with caution.")
    odd = sum(1 for c in text if unicodedata.category(c)[0] in "CS" and c not in "\n\t") / len(text)
    if odd > 0.1:
        return "The text has many symbols or control characters; the score may not mean much."
    return ""


def _models(observer: str | None, performer: str | None) -> tuple[str | None, str | None]:
    return observer or None, performer or None


@guarded
@gpu
def detect(text: str, observer: str, performer: str, numerator: str, threshold_mode: str, threshold: float,
           progress: gr.Progress = gr.Progress()):
    """Score one text: :data:`DETECT` (verdict markdown, gauge, token strip HTML, per-token figure, JSON file)."""
    text = check_text(text)
    if numerator not in D.NUMERATORS:
        raise InputError(f"Numerator must be one of {', '.join(D.NUMERATORS)}.")
    thr = check_number(threshold, what="Threshold", low=0.0, high=10.0) if threshold_mode == "custom" else None
    observer, performer = _models(observer, performer)
    progress(0.05, desc="Loading models (first use only)")
    r = D.binoculars([text], observer, performer, numerator=numerator, threshold=thr,
                     time_budget_s=limits().time_budget_s, max_texts=1)[0]
    verdict = "**Likely machine-generated**" if r.is_machine else "**Likely human-written**"
    notes = []
    if r.truncated:
        notes.append(f"The text was cut to its first {limits().max_tokens} tokens, as in the paper.")
    caution = _caution(text)
    if caution:
        notes.append(caution)
    verdict_md = (
        f"{verdict}: score **{r.score:.4f}** is {'below' if r.is_machine else 'at or above'} the threshold "
        f"{r.threshold:.4f} ({r.threshold_source}).\n\n"
        f"- log-perplexity (observed surprise): **{r.log_ppl:.3f}** nats/token\n"
        f"- log cross-perplexity (expected surprise): **{r.log_xppl:.3f}** nats/token\n"
        f"- {r.n_tokens} tokens scored · observer `{r.observer}` · performer `{r.performer}` · numerator from "
        f"the {r.numerator}{' · single-model mode (one forward pass)' if r.single_model else ''}\n\n"
        "The text reads as machine-made when it is *less* surprising than the models' own predictions would be."
        + "".join(f"\n\n> {n}" for n in notes)
    )
    strip = plots.token_strip(r.tokens, r.token_log_ppl, label="surprise (nats)",
                              extra={"expected surprise": r.token_log_xppl})
    lines = plots.per_token_lines(r.tokens, {"surprise −log p(token)": r.token_log_ppl,
                                             "expected surprise (cross-entropy)": r.token_log_xppl},
                                  title="Per-token surprise against expected surprise", yaxis="nats")
    export = export_json("binoculars", {k: getattr(r, k) for k in r.__dataclass_fields__})
    return DETECT.pack(verdict=verdict_md, gauge=plots.score_gauge(r.score, r.threshold), strip=strip, lines=lines,
                       export=export)


@guarded
@gpu
def detect_batch(file, observer: str, performer: str, numerator: str, target_fpr_pct: float,
                 progress: gr.Progress = gr.Progress()):
    """Score an uploaded CSV/JSONL/TXT of texts; with labels, also the ROC and metrics (:data:`BATCH`)."""
    if file is None:
        raise InputError("Upload a .csv (column 'text', optional 'label'), .jsonl or .txt file first.")
    target = check_number(target_fpr_pct, what="Target FPR (%)", low=0.01, high=50) / 100
    table = read_text_table(file if isinstance(file, str) else file.name)
    observer, performer = _models(observer, performer)
    results = D.binoculars(table.texts, observer, performer, numerator=numerator, min_tokens=1,
                           time_budget_s=limits().time_budget_s, max_texts=limits().max_batch_texts,
                           progress=lambda f, m: progress(f, desc=m))
    rows = [[i + 1, r.text[:80] + ("…" if len(r.text) > 80 else ""), round(r.score, 4), round(r.log_ppl, 4),
             round(r.log_xppl, 4), r.n_tokens, "machine" if r.is_machine else "human",
             table.labels[i] if table.labels else ""] for i, r in enumerate(results)]
    export = export_csv("binoculars-batch", BATCH_HEADERS,
                        [[i + 1, r.text] + row[2:] for (i, r), row in zip(enumerate(results), rows)])
    summary = f"Scored {len(results)} texts (threshold {results[0].threshold:.4f}, {results[0].threshold_source})."
    if any(r.n_tokens < D.MIN_TOKENS for r in results):
        summary += f" Some texts have fewer than {D.MIN_TOKENS} tokens; their scores are unreliable."
    if table.skipped:
        summary += " Skipped: " + "; ".join(table.skipped[:5]) + ("…" if len(table.skipped) > 5 else "")
    fig = None
    if table.labels and {"human", "machine"} <= set(table.labels):
        h = [r for r, lab in zip(results, table.labels) if lab == "human"]
        m = [r for r, lab in zip(results, table.labels) if lab == "machine"]
        cb = D.calibrate_scores([r.score for r in h], [r.score for r in m], target)
        cp = D.calibrate_scores([r.log_ppl for r in h], [r.log_ppl for r in m], target)
        summary += "\n\n" + _metrics_table(cb, cp)
        fig = plots.roc_figure({"Binoculars": (cb.fpr, cb.tpr, cb.auroc), "Perplexity": (cp.fpr, cp.tpr, cp.auroc)},
                               title="ROC on your labelled texts")
    elif table.labels:
        summary += "\n\nBoth labels are needed for a ROC curve."
    return BATCH.pack(table=rows, export=export, summary=summary, roc=fig)


def _metrics_table(b: D.Calibration, p: D.Calibration) -> str:
    fprs = sorted(b.tpr_at_fpr)
    head = "| detector | AUROC | " + " | ".join(f"TPR @ {f:.2%} FPR" for f in fprs) + " | threshold @ target FPR |"
    sep = "|---" * (len(fprs) + 3) + "|"
    row = lambda name, c: (f"| {name} | {c.auroc:.3f} | " + " | ".join(f"{c.tpr_at_fpr[f]:.1%}" for f in fprs)  # noqa: E731
                           + f" | {c.threshold:.4f} |")
    return "\n".join([head, sep, row("Binoculars", b), row("Perplexity (baseline)", p)])


def stored_figures(observer: str, performer: str, numerator: str = "observer") -> str:
    """The pair's stored calibration on the built-in benchmark, as a sentence (or "")."""
    c = D.load_calibrations().get(D.calibration_key(observer, performer, numerator))
    if not c:
        return ""
    single = c.get("single_model")
    out = (f"**Stored figures for this pair** ({c['n_human']} human and {c['n_machine']} machine texts): Binoculars "
           f"AUROC **{c['auroc']:.3f}**, TPR {c['tpr_at_fpr']['0.01']:.0%} at 1 % FPR; perplexity alone AUROC "
           f"{c['perplexity_auroc']:.3f}")
    if "perplexity_tpr_at_fpr" in c:
        out += f", TPR {c['perplexity_tpr_at_fpr']['0.01']:.0%}"
    if single:
        out += (f"; single-model Binoculars with `{single['model']}` alone AUROC {single['auroc']:.3f}, TPR "
                f"{single['tpr_at_fpr']['0.01']:.0%}")
    return out + "."


@guarded
@gpu
def evaluate_benchmark(observer: str, performer: str, numerator: str, target_fpr_pct: float,
                       per_kind: float = 200, backend: str = "in-process", workers: float = 2, resume: bool = False,
                       progress: gr.Progress = gr.Progress()):
    """Run both detectors on the built-in benchmark as a sweep, in-process or on Ray workers; streams
    :data:`EVALUATION` (ROC figure, metrics markdown, per-text CSV), the summary showing progress while it runs.

    ``per_kind``: the first N human texts and the first N texts of each generator. ``resume`` reuses the texts an
    earlier run with the same models and settings scored (a stopped run, or the same evaluation again).
    """
    target = check_number(target_fpr_pct, what="Target FPR (%)", low=0.01, high=50) / 100
    per_kind = check_count(per_kind, what="Texts per kind", low=5, high=200)
    options = D.sweep_options(*_models(observer, performer), numerator=numerator)
    obs, perf = options["observer"], options["performer"]
    items = [D.benchmark_item(it) for it in D.sample_benchmark(D.load_benchmark(), per_kind)]
    for line, res in stream_sweep("detector", items, options, backend, workers, resume, progress=progress,
                                  time_budget_s=max(limits().time_budget_s, 900)):
        if res is None:
            yield EVALUATION.pack(roc=None, summary=line, export=None)
    ev = D.from_sweep(res, target)
    b, p = ev.binoculars, ev.perplexity
    fig = plots.roc_figure({"Binoculars": (b.fpr, b.tpr, b.auroc), "Perplexity": (p.fpr, p.tpr, p.auroc)},
                           title=f"Built-in benchmark: {b.n_human} human vs {b.n_machine} machine texts")
    by_gen = "\n".join(f"| {g} | {v['n']} | {v['binoculars_auroc']:.3f} | {v['perplexity_auroc']:.3f} |"
                       for g, v in ev.by_generator.items())
    scored = len(ev.scores)
    stopped = (f" **Stopped early ({res.stopped}):** the figures cover the {scored} of {len(items)} texts scored; "
               "tick Resume and run again to score the rest." if res.stopped else "")
    failed = f" {failed_note(res.failed, 'texts')}" if res.failed else ""
    pace = (f"{res.resumed} of the texts from an earlier run" if res.resumed
            else f"{ev.tokens / max(ev.seconds, 1e-9):,.0f} tokens/s")
    md = (f"{_metrics_table(b, p)}\n\n| machine texts from | n | Binoculars AUROC | perplexity AUROC |\n"
          f"|---|---|---|---|\n{by_gen}\n\n{scored} texts, {ev.tokens:,} tokens scored in {ev.seconds:.1f} s "
          f"({pace}). Observer `{obs}`, performer `{perf}`.{stopped}{failed}\n\n"
          "Texts from the observer's own family are the easy case; another family's text is the hard one. "
          "At very low FPR a benchmark of this size can only resolve steps of 1/number of human texts.\n\n"
          + stored_figures(obs, perf, numerator) + f"\n\n{line}")
    yield EVALUATION.pack(roc=fig, summary=md, export=export_dicts("binoculars-benchmark", ev.scores))


def build() -> None:
    reg = registry()
    lms = reg.lm_names()
    d_obs, d_perf = D.default_pair()
    gr.Markdown(INTRO)
    if d_obs == d_perf:
        explain(SINGLE_NOTE)
    elif reg.profile == "cpu":
        explain(PAIR_NOTE)
    with gr.Accordion("Models and threshold", open=False):
        with gr.Row():
            observer = gr.Dropdown(lms, value=d_obs, label="Observer (M1)")
            performer = gr.Dropdown(lms, value=d_perf, label="Performer (M2)")
            numerator = gr.Radio(list(D.NUMERATORS), value="observer", label="Numerator from",
                                 info="observer: the paper's definition; performer: the authors' public code")
        with gr.Row():
            mode = gr.Radio(THRESHOLD_MODES, value=THRESHOLD_MODES[0], label="Threshold")
            threshold = gr.Number(value=0.9015, label="Custom threshold", minimum=0, maximum=10)
            target_fpr = gr.Number(value=1.0, label="Target FPR for calibration (%)", minimum=0.01, maximum=50)
    with gr.Tabs():
        with gr.Tab("One text"):
            text = gr.Textbox(label="Text", lines=8, max_length=limits().max_text_chars,
                              placeholder="Paste a paragraph (at least a few sentences), or pick an example below.")
            gr.Examples([[e["text"]] for e in EXAMPLES], inputs=[text], example_labels=[e["name"] for e in EXAMPLES],
                        label="Examples")
            run = gr.Button("Detect", variant="primary")
            verdict = gr.Markdown()
            gauge = gr.Plot(label="Score against threshold")
            explain(EXPLAIN_STRIP)
            strip = gr.HTML()
            lines = gr.Plot(label="Per-token terms")
            export = gr.File(label="Result (JSON)")
            run.click(detect, [text, observer, performer, numerator, mode, threshold],
                      DETECT.wire(verdict=verdict, gauge=gauge, strip=strip, lines=lines, export=export),
                      api_name="detect", **HEAVY)
        with gr.Tab("Batch"):
            gr.Markdown("Upload a **.csv** with a `text` column (and optionally `label`: human/machine or 0/1), a "
                        "**.jsonl** with the same fields, or a **.txt** with texts separated by blank lines. "
                        f"Up to {limits().max_batch_texts} texts. With both labels present you also get the ROC.")
            upload = gr.File(label="Texts", file_types=[".csv", ".jsonl", ".txt"], type="filepath")
            run_batch = gr.Button("Score file", variant="primary")
            batch_md = gr.Markdown()
            batch_table = gr.Dataframe(headers=BATCH_HEADERS, interactive=False, wrap=True)
            batch_csv = gr.File(label="Scores (CSV)")
            batch_roc = gr.Plot(label="ROC")
            run_batch.click(detect_batch, [upload, observer, performer, numerator, target_fpr],
                            BATCH.wire(table=batch_table, export=batch_csv, summary=batch_md, roc=batch_roc),
                            api_name="detect_batch", **HEAVY)
        with gr.Tab("Benchmark"):
            n = sum(1 for _ in D.BENCHMARK_PATH.open()) if D.BENCHMARK_PATH.exists() else 0
            gr.Markdown(f"The built-in benchmark: {n} texts, human paragraphs of State of the Union addresses "
                        "(1981 on) and continuations of held-out paragraphs by each packaged model (prompt removed). "
                        "Rebuild it with `scripts/build_detector_benchmark.py`. The paper's headline metric is the "
                        "true-positive rate at a very low false-positive rate; the x axis is logarithmic.")
            stored = stored_figures(d_obs, d_perf)
            if stored:
                explain(stored)
            per_kind = gr.Slider(5, 200, value=10 if reg.profile == "cpu" else 200, step=5,
                                 label="Texts per kind (human, and each generator)",
                                 info="The two 0.5B/1.5B models take about 3 s per text on two cores")
            with gr.Row():
                run_eval = gr.Button("Evaluate on the benchmark", variant="primary")
                stop_eval = gr.Button("Stop")
            backend, workers, resume = sweep_controls()
            eval_fig = gr.Plot(label="ROC: Binoculars vs perplexity")
            eval_md = gr.Markdown()
            eval_csv = gr.File(label="Per-text scores (CSV)")
            ev_event = run_eval.click(evaluate_benchmark,
                                      [observer, performer, numerator, target_fpr, per_kind, backend, workers, resume],
                                      EVALUATION.wire(roc=eval_fig, summary=eval_md, export=eval_csv),
                                      api_name="detect_evaluate", **HEAVY)
            stop_eval.click(None, None, None, cancels=[ev_event])
