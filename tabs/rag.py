"""RAG QA tab: retrieve passages of the addresses (or your texts) and answer with RAG-Token or RAG-Sequence."""
from __future__ import annotations

import html
import json
import time

import gradio as gr
import numpy as np
import plotly.graph_objects as go

from backends import rag as R
from backends.config import InputError, check_count, check_number, limits
from backends.models import registry
from tabs.common import HEAVY, export_dicts, export_json, gpu, guarded

TITLE = "RAG QA"
EXAMPLES = json.loads((R.ASSETS / "examples.json").read_text())
QA = R.load_qa() if R.QA_PATH.exists() else []
CORPORA = ["State of the Union addresses (1790-2026)", "My texts (upload or paste)"]
MODE_CHOICES = [(R.MODE_LABELS[m], m) for m in R.MODES]

INTRO = """
**Retrieval-augmented generation** (Lewis et al. 2020). A question x is embedded and the k passages z with the
largest inner product d(z)ᵀq(x) are retrieved; the retriever's distribution over them is
p(z|x) = softmax(d(z)ᵀq(x) / temperature). Each passage goes into its own prompt with the question, and the
generator's predictions are **marginalised over the passages**:
**RAG-Sequence** uses one passage for the whole answer, p(y|x) = Σ_z p(z|x) Π_i p(y_i|x,z,y_<i);
**RAG-Token** may draw each token from a different passage, p(y|x) = Π_i Σ_z p(z|x) p(y_i|x,z,y_<i).
The default corpus is every State of the Union address and annual message (1790 to 2026) cut into
~100-word passages, the paper's unit.
"""
TINY_NOTE = """
*On the tiny profile* the generator is SmolLM2-135M-Instruct, about a third the size of the paper's BART-large
(400M) and not trained for the task, and the index holds 17,796 passages instead of 21M: it often copies the right phrase from a good passage but also rambles, answers
with the wrong span or ignores the passage. Retrieval (all-MiniLM-L6-v2, exact search) is the strong part here; the
evaluation tab shows both. The GPU profile's Qwen2.5-7B-Instruct is a far better reader.
"""

CPU_NOTE = """
*On the cpu profile* the reader is Qwen2.5-Coder-0.5B-Instruct in int8, about the size of the paper's BART-large
(400M) but neither trained for retrieval-augmented QA nor jointly with the retriever, and the index holds 17,796
passages instead of 21M. The paper's central effect shows: on the first 12 built-in questions (k = 5) RAG-Token
answers 83 % exactly, RAG-Sequence 75 %, the top-1 passage alone 92 %, and **no retrieval 0 %** (the model does
not know these facts without the passage). With retrieval this good (recall@5 0.92 on those questions) the top
passage is hard to beat; marginalising over passages matters when the best one is not ranked first.
"""
NOTES = {"tiny": TINY_NOTE, "cpu": CPU_NOTE}
EXPLAIN_HEAT = """
**Which passage each word came from** (the paper's Figure 2). Columns are the generated tokens, rows the
retrieved passages; a cell is the posterior p(z | x, y_i) ∝ p(z|x) · p(y_i | x, z, y_<i): how much passage z
explains token y_i. A bright cell on a content word means that passage supplied it; function words often
spread across passages. For RAG-Sequence the rows are the candidates and each row is p(z | x, y) for the
whole candidate.
"""
EXPLAIN_PRIOR = """
**Prior against posterior.** Grey: the retriever's p(z|x) from the inner products alone. Blue: the posterior
p(z | x, y) once the answer is seen (the product of the passage's token probabilities, times its prior). A
passage whose posterior rises above its prior is the one the answer actually rests on. The temperature
sharpens or flattens the prior; cosine scores of unit vectors are close together, so T = 1 makes it nearly
uniform.
"""
EXPLAIN_EVAL = """
**Recall@n**: the share of questions whose recorded answer passage is among the top n retrieved. **EM**: the
answer's first line equals a gold answer after SQuAD normalisation (lower case, no punctuation or articles);
**F1**: token overlap with the best gold answer; **contains**: a gold answer appears anywhere in the generation
(lenient, for a model that rambles). Generation takes a few seconds per question and mode on a CPU: start
with a few questions, or evaluate retrieval alone over the whole set in seconds.
"""


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


def _index(corpus: str, files, pasted: str, kind: str, progress) -> R.Index:
    if corpus not in CORPORA:
        raise InputError(f"Corpus must be one of: {', '.join(CORPORA)}.")
    if kind not in R.INDEX_KINDS:
        raise InputError(f"Index must be one of {', '.join(R.INDEX_KINDS)}.")
    cb = (lambda f, m: progress(f, desc=m)) if progress is not None else None
    if corpus == CORPORA[0]:
        return R.build_index(kind=kind, progress=cb)
    paths, texts = _files(files), [pasted] if pasted and pasted.strip() else []
    if not paths and not texts:
        raise InputError("The corpus holds no text: upload .txt, .md, .csv or .pdf files or paste some text, or "
                         "choose the State of the Union corpus.")
    return R.build_index(files=paths, texts=texts, kind=kind, progress=cb,
                         time_budget_s=max(limits().time_budget_s, min(600, limits().max_run_s)))


def _status(index: R.Index) -> str:
    how = {"asset": "loaded from the embeddings shipped with the app (checked against fresh embeddings)",
           "cache": "loaded from the cache", "built": "embedded now",
           "rebuilt-asset": "the cached index was damaged, so it was rebuilt from the shipped embeddings",
           "rebuilt-built": "the cached index was damaged, so the passages were embedded again"}.get(index.source,
                                                                                              index.source)
    return (f"**Index:** {html.escape(index.name)} · **{index.size:,} passages** · {index.embedder} · "
            f"{index.kind} inner-product FAISS index · {how} in {index.seconds:.1f} s"
            f"{' · cached for the next start' if index.cache_path else ' · not cached'}.")


@guarded
@gpu
def load_index(corpus: str, files, pasted: str, kind: str, progress: gr.Progress = gr.Progress()):
    """Build or load the index for the chosen corpus; returns the status line."""
    return _status(_index(corpus, files, pasted, kind, progress))


def _passage_label(h: R.Hit) -> str:
    p = h.passage
    who = f"{p.year} {p.president.split()[-1]}" if p.year else p.title[:24]
    return f"#{h.rank + 1} {who}"


def heat_map(ans: R.Answer) -> go.Figure | None:
    """Generated tokens (x) by passages (y) coloured by p(z|x,y_i); for RAG-Sequence, candidates by passages."""
    labels = [_passage_label(h) for h in ans.passages]
    if ans.mode == "token" and ans.token_posteriors:
        z = np.array(ans.token_posteriors).T  # (k, T)
        x = list(range(len(ans.tokens)))
        ticks = [t.replace(" ", "·") or "∅" for t in ans.tokens]
        title, xt = "RAG-Token: p(z | x, y_i) for each generated token", "generated token"
    elif ans.mode == "sequence" and ans.candidates:
        lp = np.array([c["logprob_per_passage"] for c in ans.candidates]).T  # (k, C)
        prior = np.log(np.maximum([h.prior for h in ans.passages], 1e-300))[:, None]
        a = prior + lp
        z = np.exp(a - a.max(0, keepdims=True))
        z = z / z.sum(0, keepdims=True)
        x = list(range(len(ans.candidates)))
        ticks = [(c["text"][:24] + ("…" if len(c["text"]) > 24 else "")) or "(empty)" for c in ans.candidates]
        title, xt = "RAG-Sequence: p(z | x, y) for each candidate (best first)", "candidate answer"
    else:
        return None
    fig = go.Figure(go.Heatmap(z=z, x=x, y=labels, zmin=0, zmax=1, colorscale="Blues",
                               customdata=np.array([ticks] * len(labels)),
                               hovertemplate="%{y}<br>%{customdata}<br>p = %{z:.3f}<extra></extra>",
                               colorbar={"title": "p(z|·)"}))
    fig.update_xaxes(tickvals=x, ticktext=ticks, tickangle=-45, title=xt)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=title, height=max(260, 60 + 34 * len(labels)), margin={"l": 110, "r": 20, "t": 50, "b": 90})
    return fig


def prior_figure(ans: R.Answer) -> go.Figure:
    hits = ans.passages or ans.retrieved
    labels = [_passage_label(h) for h in hits]
    fig = go.Figure(go.Bar(x=labels, y=[h.prior for h in hits], name="prior p(z|x)", marker_color="#999999",
                           hovertemplate="%{x}<br>prior %{y:.3f}<extra></extra>"))
    if ans.passage_posterior:
        fig.add_trace(go.Bar(x=labels, y=ans.passage_posterior, name="posterior p(z|x,y)", marker_color="#3182bd",
                             hovertemplate="%{x}<br>posterior %{y:.3f}<extra></extra>"))
    fig.update_layout(barmode="group", height=300, yaxis={"range": [0, 1], "title": "probability"},
                      title="Retriever prior and answer posterior per passage",
                      margin={"l": 60, "r": 20, "t": 50, "b": 60}, legend={"orientation": "h", "y": -0.25})
    return fig


def _highlight(text: str, span: tuple[int, int] | None) -> str:
    if not span:
        return html.escape(text)
    a, b = span
    return f"{html.escape(text[:a])}<mark>{html.escape(text[a:b])}</mark>{html.escape(text[b:])}"


def passages_html(ans: R.Answer) -> str:
    used = {h.passage.pid for h in ans.passages}
    post = dict(zip([h.passage.pid for h in ans.passages], ans.passage_posterior))
    cards = []
    for h in ans.retrieved:
        p = h.passage
        span = R.find_span(p.text, ans.text) if ans.text else None
        meta = (f"<b>#{h.rank + 1}</b> · score {h.score:.3f} · prior {h.prior:.3f}"
                + (f" · posterior {post[p.pid]:.3f}" if p.pid in post else "")
                + (f" · {p.year} · {html.escape(p.president)}" if p.year else "")
                + f" · <i>{html.escape(p.title)}</i>"
                + ("" if p.pid in used else " · <i>not shown to the generator in this mode</i>"))
        cards.append(f'<div style="border:1px solid var(--border-color-primary);border-radius:6px;padding:8px;'
                     f'margin:6px 0;{"" if p.pid in used else "opacity:0.65;"}"><div style="font-size:0.9em">'
                     f'{meta}</div><div style="margin-top:4px">{_highlight(p.text, span)}</div></div>')
    return "".join(cards)


def answer_markdown(ans: R.Answer, index: R.Index) -> str:
    label = R.MODE_LABELS[ans.mode]
    parts = [f"### {html.escape(ans.text) or '(empty answer)'}",
             f"{label} · log p(y|x) = {ans.logprob:.2f} · {len(ans.passages)} passage(s) given to `{ans.model}` · "
             f"{ans.seconds:.1f} s"]
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
        max_tokens: float, progress: gr.Progress = gr.Progress()):
    """Answer one question. Returns answer markdown, heat map, prior/posterior bars, passages HTML, JSON file."""
    question = R.check_question(question)
    k = R.check_k(k)
    if mode not in R.MODES:
        raise InputError(f"Mode must be one of {', '.join(R.MODES)}.")
    temperature = check_number(temperature, what="Temperature", low=0.01, high=10.0)
    max_tokens = check_count(max_tokens, what="Answer token limit", low=1, high=min(64, limits().max_new_tokens))
    index = _index(corpus, files, pasted, kind, progress)
    progress(0.6, desc=f"Retrieving {k} passages and generating ({R.MODE_LABELS[mode]})")
    ans = R.answer(index, question, mode=mode, k=k, temperature=temperature, max_new_tokens=max_tokens)
    export = export_json("rag-answer", {**ans.to_dict(), "index": index.status()})
    return answer_markdown(ans, index), heat_map(ans), prior_figure(ans), passages_html(ans), export


def report_markdown(rep: R.Report, done: int, total: int) -> str:
    rec = " · ".join(f"recall@{n} **{rep.recall[n]:.1%}**" for n in R.RECALL_AT)
    lines = [f"**{done} of {total} questions** · k = {rep.k} · {rep.seconds:.0f} s\n\nRetrieval: {rec}"]
    if rep.modes:
        lines.append("| mode | exact match | F1 | contains the answer |\n|---|---|---|---|\n" + "\n".join(
            f"| {R.MODE_LABELS[m]} | {rep.exact_match[m]:.1%} | {rep.f1[m]:.3f} | {rep.contains[m]:.1%} |"
            for m in rep.modes))
    if done < total:
        lines.append("*Running… (Stop keeps what is shown.)*")
    return "\n\n".join(lines)


def recall_figure(rep: R.Report) -> go.Figure:
    fig = go.Figure(go.Bar(x=[f"recall@{n}" for n in R.RECALL_AT], y=[rep.recall[n] for n in R.RECALL_AT],
                           name="retrieval", marker_color="#3182bd", text=[f"{rep.recall[n]:.0%}" for n in R.RECALL_AT],
                           textposition="outside"))
    for m in rep.modes:
        fig.add_trace(go.Bar(x=[f"EM {R.MODE_LABELS[m]}", f"F1 {R.MODE_LABELS[m]}"], y=[rep.exact_match[m], rep.f1[m]],
                             name=R.MODE_LABELS[m], text=[f"{rep.exact_match[m]:.0%}", f"{rep.f1[m]:.2f}"],
                             textposition="outside"))
    fig.update_layout(height=340, yaxis={"range": [0, 1.1], "title": "share / score"}, showlegend=False,
                      title=f"Built-in QA set: {rep.n} questions", margin={"l": 60, "r": 20, "t": 50, "b": 80})
    return fig


@guarded
@gpu
def run_evaluation(n_questions: float, k: float, modes: list[str], temperature: float, max_tokens: float,
                   progress: gr.Progress = gr.Progress()):
    """Evaluate on the first n built-in questions; streams the running figures after each question."""
    if not QA:
        raise InputError("The built-in QA set is missing (assets/rag/qa.jsonl); run scripts/build_rag_qa.py.")
    n = check_count(n_questions, what="Number of questions", low=1, high=len(QA))
    k = R.check_k(k)
    modes = [m for m in (modes or []) if m in R.MODES]
    temperature = check_number(temperature, what="Temperature", low=0.01, high=10.0)
    max_tokens = check_count(max_tokens, what="Answer token limit", low=1, high=min(64, limits().max_new_tokens))
    index = _index(CORPORA[0], None, "", "flat", progress)
    records: list[dict] = []
    t0 = time.perf_counter()
    rep = None
    for i, rec in enumerate(R.evaluate_iter(index, QA[:n], k, modes=modes, temperature=temperature,
                                            max_new_tokens=max_tokens)):
        records.append(rec)
        progress((i + 1) / n, desc=f"Question {i + 1}/{n}")
        rep = R.summarize(records, k, modes, time.perf_counter() - t0)
        if modes or i + 1 == n:  # retrieval alone takes milliseconds a question: show it once, at the end
            yield report_markdown(rep, i + 1, n), recall_figure(rep), _table(records, modes), None, None
    settings = {"k": k, "modes": modes, "temperature": temperature, "max_new_tokens": max_tokens, "n": n,
                "index": index.status()}
    yield (report_markdown(rep, n, n), recall_figure(rep), _table(records, modes),
           export_dicts("rag-evaluation", records, comment=json.dumps(settings)),
           export_json("rag-evaluation", {"settings": settings, **rep.to_dict()}))


EVAL_HEADERS = ["id", "question", "gold", "gold rank"]


def _table(records: list[dict], modes: list[str]):
    import pandas as pd

    rows = [[r["id"], r["question"], r["answer"], r["gold_rank"] or "> 10"]
            + [r.get(f"{m}_answer", "") for m in modes] for r in records]
    return pd.DataFrame(rows, columns=EVAL_HEADERS + [R.MODE_LABELS[m] for m in modes])


def build() -> None:
    reg = registry()
    gr.Markdown(INTRO)
    if reg.profile in NOTES:
        gr.Markdown(NOTES[reg.profile], elem_classes=["explain"])
    with gr.Accordion("Corpus and index", open=False):
        with gr.Row():
            corpus = gr.Radio(CORPORA, value=CORPORA[0], label="Corpus")
            kind = gr.Radio(list(R.INDEX_KINDS), value="flat", label="FAISS index",
                            info="flat: exact inner product; hnsw / ivf: approximate, for large corpora")
        with gr.Row():
            files = gr.File(label=f"Your files (.txt, .md, .csv with a 'text' column, .pdf; up to {R.MAX_UPLOAD_FILES})",
                            file_count="multiple", file_types=list(R.UPLOAD_SUFFIXES), type="filepath")
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
    with gr.Tabs():
        with gr.Tab("Ask"):
            question = gr.Textbox(label="Question", value=EXAMPLES[0]["question"], lines=2,
                                  max_length=R.MAX_QUESTION_CHARS)
            gr.Examples([[e["question"]] for e in EXAMPLES], inputs=[question],
                        example_labels=[e["label"] for e in EXAMPLES], label="Examples")
            with gr.Row():
                run = gr.Button("Answer", variant="primary")
                stop = gr.Button("Stop")
            answer_md = gr.Markdown()
            with gr.Row():
                heat = gr.Plot(label="Passage posterior per generated token", scale=3)
                gr.Markdown(EXPLAIN_HEAT, elem_classes=["explain"])
            with gr.Row():
                prior_plot = gr.Plot(label="Prior and posterior", scale=3)
                gr.Markdown(EXPLAIN_PRIOR, elem_classes=["explain"])
            gr.Markdown("**Retrieved passages**, best first; the answer is highlighted where it is written in a "
                        "passage.", elem_classes=["explain"])
            passages = gr.HTML()
            export = gr.File(label="Answer, passages and posteriors (JSON)")
            event = run.click(ask, [question, corpus, files, pasted, kind, k, mode, temperature, max_tokens],
                              [answer_md, heat, prior_plot, passages, export], api_name="rag_answer", **HEAVY)
            question.submit(ask, [question, corpus, files, pasted, kind, k, mode, temperature, max_tokens],
                            [answer_md, heat, prior_plot, passages, export], api_name=False, **HEAVY)
            stop.click(None, None, None, cancels=[event])
        with gr.Tab("Evaluate"):
            gr.Markdown(f"The built-in QA set: {len(QA)} questions about specific addresses (names, numbers, places), "
                        "each with the passage that holds its answer (`assets/rag/qa.jsonl`, built and checked by "
                        "`scripts/build_rag_qa.py`). Always on the State of the Union corpus.")
            with gr.Row():
                n_q = gr.Slider(1, max(len(QA), 1), value=min(10, max(len(QA), 1)), step=1, label="Questions (from the start)")
                modes = gr.CheckboxGroup(MODE_CHOICES, value=list(R.MODES), label="Modes (none ticked: retrieval only)")
            with gr.Row():
                run_eval = gr.Button("Evaluate", variant="primary")
                stop_eval = gr.Button("Stop")
            with gr.Row():
                eval_md = gr.Markdown()
                gr.Markdown(EXPLAIN_EVAL, elem_classes=["explain"])
            eval_plot = gr.Plot(label="Recall@n, exact match and F1")
            eval_table = gr.Dataframe(headers=EVAL_HEADERS, interactive=False, wrap=True, label="Per question")
            with gr.Row():
                eval_csv = gr.File(label="Per-question results (CSV)")
                eval_json = gr.File(label="Summary and records (JSON)")
            ev = run_eval.click(run_evaluation, [n_q, k, modes, temperature, max_tokens],
                                [eval_md, eval_plot, eval_table, eval_csv, eval_json], api_name="rag_evaluate", **HEAVY)
            stop_eval.click(None, None, None, cancels=[ev])
    load_ev = load.click(load_index, [corpus, files, pasted, kind], [status], api_name="rag_index", **HEAVY)
    stop_load.click(None, None, None, cancels=[load_ev])
