"""RAG QA tab: retrieve passages of the addresses (or your texts) and answer with RAG-Token or RAG-Sequence."""
from __future__ import annotations

import functools
import html
import json

import gradio as gr

from backends import rag as R
from backends import sweeps
from backends.config import InputError, check_count, check_number, limits
from backends.models import EMBEDDER, HUB, registry
from backends.rag import evaluation as RE
from tabs.common import HEAVY, Outputs, export_dicts, export_json, failed_note, gpu, guarded, stream_sweep
from tabs.rag_figures import heat_map, passages_html, prior_figure, recall_figure
from tabs.ui import explain, intro, sweep_controls

TITLE = "RAG QA"
SUMMARY = ("Retrieval-augmented generation (Lewis et al. 2020): answers marginalised over retrieved passages, "
           "RAG-Sequence and RAG-Token, with dense, BM25 and hybrid retrieval.")
CORPORA = ["State of the Union addresses (1790-2026)", "My texts (upload or paste)"]
MODE_CHOICES = [(R.MODE_LABELS[m], m) for m in R.MODES]
RETRIEVAL_CHOICES = [(R.RETRIEVAL_LABELS[m], m) for m in R.RETRIEVAL_MODES]
FUSION_CHOICES = [("reciprocal rank (RRF)", "rrf"), ("weighted scores", "weighted")]
FUSION_NAMES = {"rrf": "reciprocal-rank fusion", "weighted": "weighted score fusion"}
NOTES = {"tiny": "note-tiny", "cpu": "note-cpu"}  # profile -> prose asset with its measured effects

# The outputs of the two many-output callbacks, named once (tests read them by name).
ANSWER = Outputs("answer", "heat", "prior", "passages", "export")
EVALUATION = Outputs("summary", "plot", "table", "csv", "json")


@functools.lru_cache(maxsize=None)
def prose(name: str) -> str:
    """A piece of the tab's explanatory text, from ``assets/rag/<name>.md`` (read at first use)."""
    return (R.ASSETS / f"{name}.md").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def examples() -> list[dict]:
    """The one-click example questions (label, question)."""
    return json.loads((R.ASSETS / "examples.json").read_text(encoding="utf-8"))


QA_SETS = {"built-in": R.QA_PATH, "reworded": R.QA_REWORDED_PATH}
QA_SET_CHOICES = [("built-in: 107 questions, written from their passages", "built-in"),
                  ("reworded: 22 of them in other words", "reworded")]


@functools.lru_cache(maxsize=None)
def qa_set(name: str = "built-in") -> list[dict]:
    """A built-in QA set, or [] when its file is missing."""
    return R.load_qa(QA_SETS[name]) if QA_SETS[name].exists() else []


def _files(files) -> list[str]:
    if not files:
        return []
    if isinstance(files, (str, dict)):
        files = [files]
    out = []
    for f in files:
        path = f.get("path") if isinstance(f, dict) else getattr(f, "name", f)
        if path:
            out.append(str(path))
    return out


def embedders() -> list[str]:
    """The embedders the index can be built with: the registry's packaged and local ones."""
    reg = registry()
    return [n for n in reg.names(EMBEDDER) if reg.spec(n).source != HUB or n == reg.slots["embedder"]]


def check_embedder(embedder: str | None) -> str | None:
    """None (the profile's embedder) or a name from :func:`embedders`."""
    if not embedder:
        return None
    if embedder not in embedders():
        raise InputError(f"Embedder must be one of {', '.join(embedders())}.")
    return embedder


def _index(corpus: str, files, pasted: str, kind: str, progress, embedder: str | None = None) -> R.Index:
    if corpus not in CORPORA:
        raise InputError(f"Corpus must be one of: {', '.join(CORPORA)}.")
    if kind not in R.INDEX_KINDS:
        raise InputError(f"Index must be one of {', '.join(R.INDEX_KINDS)}.")
    embedder = check_embedder(embedder)
    cb = (lambda f, m: progress(f, desc=m)) if progress is not None else None
    if corpus == CORPORA[0]:
        # The profile's embedder loads the shipped embeddings in seconds. Another one must embed all 17,796
        # passages once (all-mpnet-base-v2: about 90 minutes on two CPU cores, measured): on a CPU that is a
        # job for the command line, not for a request; on a GPU it is a minute or two, with progress.
        if embedder and registry().device == "cpu" and not R.default_index_ready(embedder, kind):
            raise InputError(prose("embedder-not-built").strip().format(embedder=embedder))
        return R.build_index(kind=kind, progress=cb, embedder=embedder, time_budget_s=limits().max_run_s)
    paths, texts = _files(files), [pasted] if pasted and pasted.strip() else []
    if not paths and not texts:
        raise InputError("The corpus holds no text: upload .txt, .md, .csv or .pdf files or paste some text, or "
                         "choose the State of the Union corpus.")
    return R.build_index(files=paths, texts=texts, kind=kind, progress=cb, embedder=embedder,
                         time_budget_s=max(limits().time_budget_s, min(600, limits().max_run_s)))


def _status(index: R.Index) -> str:
    how = {"asset": "loaded from the embeddings shipped with the app (checked against fresh embeddings)",
           "cache": "loaded from the cache", "built": "embedded now",
           "rebuilt-asset": "the cached index was damaged, so it was rebuilt from the shipped embeddings",
           "rebuilt-built": "the cached index was damaged, so the passages were embedded again"}.get(index.source,
                                                                                              index.source)
    bm25 = index.status().get("bm25")
    sparse = ""
    if bm25:
        built = "loaded from the cache" if bm25["source"] == "cache" else "built"
        sparse = f" BM25 index: {bm25['vocabulary']:,} terms, {built} in {bm25['seconds']:.1f} s."
    return (f"**Index:** {html.escape(index.name)} · **{index.size:,} passages** · {index.embedder} · "
            f"{index.kind} inner-product FAISS index · {how} in {index.seconds:.1f} s"
            f"{' · cached for the next start' if index.cache_path else ' · not cached'}.{sparse}")


@guarded
@gpu
def load_index(corpus: str, files, pasted: str, kind: str, embedder: str = "", progress: gr.Progress = gr.Progress()):
    """Build or load the index for the chosen corpus; returns the status line."""
    return _status(_index(corpus, files, pasted, kind, progress, embedder))


def answer_markdown(ans: R.Answer, index: R.Index) -> str:
    label = R.MODE_LABELS[ans.mode]
    parts = [f"### {html.escape(ans.text) or '(empty answer)'}",
             f"{label} · log p(y|x) = {ans.logprob:.2f} · {len(ans.passages)} passage(s) given to `{ans.model}`, "
             f"retrieved by {R.RETRIEVAL_LABELS[ans.retrieval]}"
             f"{', ' + FUSION_NAMES[ans.fusion] if ans.retrieval == 'hybrid' else ''} · {ans.seconds:.1f} s"]
    if ans.mode == "sequence" and ans.candidates:
        rows = "\n".join(f"| {html.escape(c['text'][:80]) or '(empty)'} | {', '.join(map(str, c['from_passages']))} | "
                         f"{c['logprob']:.2f} |" for c in ans.candidates[:10])
        parts.append("| candidate | decoded under passage | log p(y\\|x) |\n|---|---|---|\n" + rows)
    spans = [i + 1 for i, s in enumerate(ans.spans) if s]
    if ans.text and ans.passages:
        parts.append(f"The answer, or its longest run of words, is written in passage "
                     f"{', '.join(f'#{i}' for i in spans)} (highlighted below)." if spans else
                     "No run of the answer's words is written in the passages given to the model.")
    if ans.warning:
        parts.append(f"> ⚠️ {ans.warning}")
    parts.append(f"<small>{_status(index)}</small>")
    return "\n\n".join(parts)


@guarded
@gpu
def ask(question: str, corpus: str, files, pasted: str, kind: str, k: float, mode: str, temperature: float,
        max_tokens: float, retrieval: str = R.RETRIEVAL_MODES[0], fusion: str = "rrf", alpha: float = R.DEFAULT_ALPHA,
        embedder: str = "", progress: gr.Progress = gr.Progress()):
    """Answer one question. Returns answer markdown, heat map, prior/posterior bars, passages HTML, JSON file."""
    question = R.check_question(question)
    k = R.check_k(k)
    if mode not in R.MODES:
        raise InputError(f"Mode must be one of {', '.join(R.MODES)}.")
    retrieval, fusion, alpha = R.check_retrieval(retrieval, fusion, alpha)
    temperature = check_number(temperature, what="Temperature", low=0.01, high=10.0)
    max_tokens = check_count(max_tokens, what="Answer token limit", low=1, high=min(64, limits().max_new_tokens))
    index = _index(corpus, files, pasted, kind, progress, embedder)
    progress(0.6, desc=f"Retrieving {k} passages and generating ({R.MODE_LABELS[mode]})")
    ans = R.answer(index, question, mode=mode, k=k, temperature=temperature, max_new_tokens=max_tokens,
                   time_budget_s=limits().time_budget_s, retrieval=retrieval, fusion=fusion, alpha=alpha)
    export = export_json("rag-answer", {**ans.to_dict(), "index": index.status()})
    return ANSWER.pack(answer=answer_markdown(ans, index), heat=heat_map(ans), prior=prior_figure(ans),
                       passages=passages_html(ans), export=export)


def report_markdown(rep: R.Report, done: int, total: int) -> str:
    by = rep.recall_by_retrieval or {rep.retrieval: rep.recall}
    recall = ("| retrieval | " + " | ".join(f"recall@{n}" for n in R.RECALL_AT) + " |\n|---|"
              + "---|" * len(R.RECALL_AT) + "\n"
              + "\n".join(f"| {R.RETRIEVAL_LABELS[m]}{' (answers)' if m == rep.retrieval and rep.modes else ''} | "
                          + " | ".join(f"{r[n]:.1%}" for n in R.RECALL_AT) + " |" for m, r in by.items()))
    lines = [f"**{done} of {total} questions** · k = {rep.k} · {rep.seconds:.0f} s", recall]
    if rep.modes:
        lines.append("| mode | exact match | F1 | contains the answer |\n|---|---|---|---|\n" + "\n".join(
            f"| {R.MODE_LABELS[m]} | {rep.exact_match[m]:.1%} | {rep.f1[m]:.3f} | {rep.contains[m]:.1%} |"
            for m in rep.modes))
    failed = (rep.sweep or {}).get("failed_items") or {}
    if failed:
        lines.append(failed_note(failed, "questions"))
    if rep.stopped:
        lines.append(f"**Stopped early ({rep.stopped}):** the figures cover the {done} questions done; tick Resume "
                     "and run again to finish the others.")
    elif done + len(failed) < total:
        lines.append("*Running… (Stop keeps what is shown.)*")
    return "\n\n".join(lines)


@guarded
@gpu
def run_evaluation(n_questions: float, k: float, modes: list[str], temperature: float, max_tokens: float,
                   retrieval: str = R.RETRIEVAL_MODES[0], fusion: str = "rrf", alpha: float = R.DEFAULT_ALPHA,
                   embedder: str = "", questions: str = "built-in", backend: str = "in-process", workers: float = 2,
                   resume: bool = False, progress: gr.Progress = gr.Progress()):
    """Evaluate on the first n questions of a built-in set, as a sweep in-process or on Ray workers: streams
    :data:`EVALUATION`, the summary showing the sweep's progress while it runs, then the figures."""
    if questions not in QA_SETS:
        raise InputError(f"Questions must be one of {', '.join(QA_SETS)}.")
    qa = qa_set(questions)
    if not qa:
        raise InputError(f"The QA set {QA_SETS[questions].name} is missing; run scripts/build_rag_qa.py.")
    n = min(check_count(n_questions, what="Number of questions", low=1, high=len(qa_set())), len(qa))
    k = R.check_k(k)
    modes = [m for m in (modes or []) if m in R.MODES]
    temperature = check_number(temperature, what="Temperature", low=0.01, high=10.0)
    max_tokens = check_count(max_tokens, what="Answer token limit", low=1, high=min(64, limits().max_new_tokens))
    retrieval, fusion, alpha = R.check_retrieval(retrieval, fusion, alpha)
    sweeps.check_backend(backend, workers, 64)  # before the index loads
    index = _index(CORPORA[0], None, "", "flat", progress, embedder)
    # The default corpus: every worker rebuilds it by name; in-process the sweep finds this very index in the memo.
    options = RE.sweep_options(index, k, modes=modes, temperature=temperature, max_new_tokens=max_tokens,
                               retrieval=retrieval, fusion=fusion, alpha=alpha)
    # An evaluation is a long run the user starts on purpose: it gets the cap on long runs, not one request's budget.
    for line, res in stream_sweep("rag", [RE.qa_item(q) for q in qa[:n]], options, backend, workers, resume,
                                  progress=progress, time_budget_s=limits().max_run_s):
        if res is None:
            yield EVALUATION.pack(summary=line, plot=None, table=None, csv=None, json=None)
    rep = RE.from_sweep(res, options)
    records = rep.records
    settings = {"questions": questions, "k": k, "modes": modes, "temperature": temperature,
                "max_new_tokens": max_tokens, "n": n, "retrieval": retrieval, "fusion": fusion, "alpha": alpha,
                "index": index.status(), "backend": res.backend, "workers": res.workers}
    csv = export_dicts("rag-evaluation", records, comment=json.dumps(settings)) if records else None
    yield EVALUATION.pack(summary=report_markdown(rep, rep.n, n) + f"\n\n{line}", plot=recall_figure(rep),
                          table=_table(records, modes), csv=csv,
                          json=export_json("rag-evaluation", {"settings": settings, **rep.to_dict()}))


EVAL_HEADERS = ["id", "question", "gold"] + [f"gold rank: {m}" for m in R.RETRIEVAL_MODES]


def _table(records: list[dict], modes: list[str]):
    import pandas as pd

    beyond = f"> {R.FUSION_DEPTH}"
    rows = [[r["id"], r["question"], r["answer"]] + [r[f"gold_rank_{m}"] or beyond for m in R.RETRIEVAL_MODES]
            + [r.get(f"{m}_answer", "") for m in modes] for r in records]
    return pd.DataFrame(rows, columns=EVAL_HEADERS + [R.MODE_LABELS[m] for m in modes])


def build() -> None:
    qa, ex = qa_set(), examples()
    intro(prose("intro"), {profile: prose(name) for profile, name in NOTES.items()})
    with gr.Accordion("Corpus and index", open=False):
        with gr.Row():
            corpus = gr.Radio(CORPORA, value=CORPORA[0], label="Corpus")
            kind = gr.Radio(list(R.INDEX_KINDS), value="flat", label="FAISS index",
                            info="flat: exact inner product; hnsw / ivf: approximate, for large corpora")
            embedder = gr.Dropdown(embedders(), value=registry().slots["embedder"], label="Embedder",
                                   info=prose("embedder-info").strip())
        with gr.Row():
            files = gr.File(label=f"Your files (.txt, .md, .csv with a 'text' column, .pdf; up to "
                                  f"{R.MAX_UPLOAD_FILES})", file_count="multiple", file_types=list(R.UPLOAD_SUFFIXES),
                            type="filepath")
            pasted = gr.Textbox(label="Or paste text", lines=6, placeholder="Paste articles, notes, a report …")
        with gr.Row():
            load = gr.Button("Build / load the index")
            stop_load = gr.Button("Stop")
        status = gr.Markdown("The index loads at the first question (the default corpus takes a few seconds: its "
                             "embeddings ship with the app).")
    with gr.Row():
        k = gr.Slider(1, R.MAX_K, value=R.DEFAULT_K, step=1, label="k (passages)")
        mode = gr.Radio(MODE_CHOICES, value="token", label="Mode")
        temperature = gr.Slider(0.01, 1.0, value=R.DEFAULT_TEMPERATURE, step=0.01, label="Retriever temperature")
        max_tokens = gr.Slider(4, 64, value=R.DEFAULT_NEW_TOKENS, step=1, label="Answer token limit")
    with gr.Row():
        retrieval = gr.Radio(RETRIEVAL_CHOICES, value=R.RETRIEVAL_MODES[0], label="Retrieval",
                             info="which passages the generator sees; the prior over them is always the dense one")
        fusion = gr.Radio(FUSION_CHOICES, value="rrf", label="Hybrid fusion")
        alpha = gr.Slider(0.0, 1.0, value=R.DEFAULT_ALPHA, step=0.05, label="Dense weight α (weighted fusion)")
        explain(prose("explain-retrieval"))
    with gr.Tabs():
        with gr.Tab("Ask"):
            question = gr.Textbox(label="Question", value=ex[0]["question"], lines=2, max_length=R.MAX_QUESTION_CHARS)
            gr.Examples([[e["question"]] for e in ex], inputs=[question],
                        example_labels=[e["label"] for e in ex], label="Examples")
            with gr.Row():
                run = gr.Button("Answer", variant="primary")
                stop = gr.Button("Stop")
            answer_md = gr.Markdown()
            with gr.Row():
                heat = gr.Plot(label="Passage posterior per generated token", scale=3)
                explain(prose("explain-heat"))
            with gr.Row():
                prior_plot = gr.Plot(label="Prior and posterior", scale=3)
                explain(prose("explain-prior"))
            explain("**Retrieved passages**, best first by the chosen retrieval, each with its rank by embedding "
                    "(dense), by words (BM25) and in the fusion; the answer is highlighted where it is written.")
            passages = gr.HTML()
            export = gr.File(label="Answer, passages and posteriors (JSON)")
            inputs = [question, corpus, files, pasted, kind, k, mode, temperature, max_tokens, retrieval, fusion, alpha,
                      embedder]
            outputs = ANSWER.wire(answer=answer_md, heat=heat, prior=prior_plot, passages=passages, export=export)
            event = run.click(ask, inputs, outputs, api_name="rag_answer", **HEAVY)
            question.submit(ask, inputs, outputs, api_name=False, **HEAVY)
            stop.click(None, None, None, cancels=[event])
        with gr.Tab("Evaluate"):
            gr.Markdown(f"The built-in QA set: {len(qa)} questions about specific addresses (names, numbers, places), "
                        "each with the passage that holds its answer (`assets/rag/qa.jsonl`, built and checked by "
                        "`scripts/build_rag_qa.py`). Always on the State of the Union corpus.")
            with gr.Row():
                n_q = gr.Slider(1, max(len(qa), 1), value=min(10, max(len(qa), 1)), step=1,
                                label="Questions (from the start)")
                modes = gr.CheckboxGroup(MODE_CHOICES, value=list(R.MODES), label="Modes (none ticked: retrieval only)")
                questions = gr.Radio(QA_SET_CHOICES, value="built-in", label="Questions",
                                     info="the reworded set shows where word matching fails")
            with gr.Row():
                run_eval = gr.Button("Evaluate", variant="primary")
                stop_eval = gr.Button("Stop")
            backend, workers, resume = sweep_controls()
            with gr.Row():
                eval_md = gr.Markdown()
                explain(prose("explain-eval"))
            eval_plot = gr.Plot(label="Recall@n, exact match and F1")
            eval_table = gr.Dataframe(headers=EVAL_HEADERS, interactive=False, wrap=True, label="Per question")
            with gr.Row():
                eval_csv = gr.File(label="Per-question results (CSV)")
                eval_json = gr.File(label="Summary and records (JSON)")
            ev = run_eval.click(run_evaluation,
                                [n_q, k, modes, temperature, max_tokens, retrieval, fusion, alpha, embedder,
                                 questions, backend, workers, resume],
                                EVALUATION.wire(summary=eval_md, plot=eval_plot, table=eval_table, csv=eval_csv,
                                                json=eval_json), api_name="rag_evaluate", **HEAVY)
            stop_eval.click(None, None, None, cancels=[ev])
    load_ev = load.click(load_index, [corpus, files, pasted, kind, embedder], [status], api_name="rag_index",
                         **HEAVY)
    stop_load.click(None, None, None, cancels=[load_ev])
