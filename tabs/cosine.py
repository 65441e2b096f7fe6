"""Cosine-similarity sandbox: the paper's matrix-factorisation experiment, and real sentence embeddings."""
from __future__ import annotations

import json

import gradio as gr
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from backends import cosine as C
from backends.config import check_count, check_number
from tabs.common import HEAVY, Outputs, export_dicts, guarded
from tabs.ui import explain

TITLE = "Cosine-similarity sandbox"
SUMMARY = ("Is cosine similarity of embeddings really about similarity? (Steck et al. 2024): a rescaling that "
           "leaves predictions unchanged changes cosine similarities arbitrarily.")
MAX_CELLS = 200  # heat maps are average-pooled to at most this many rows/columns for the browser
# The state comes last, so an API client (which does not get it) sees the others in this order.
EXPERIMENT = Outputs("heat", "table", "summary", "export", "alpha_plot", "alpha_md", "state")
ALPHA = Outputs("alpha_plot", "alpha_md")
EMBEDDINGS = Outputs("before", "after", "neighbours", "summary")

INTRO = """
**Is cosine similarity of embeddings really about similarity?** (Steck, Ekanadham & Kallus 2024). A linear
model X ≈ X A Bᵀ trained with *objective 1* (penalise the product A Bᵀ) has a whole family of solutions
(A D, B D⁻¹) for any diagonal D: **identical predictions, different item embeddings B, different cosines**.
Here the family is A = V diag(s)^(1−α), B = V diag(s)^α, with s the closed-form shrinkage. *Objective 2*
(penalise each factor) pins the scale down, so its cosines are unique, but not necessarily meaningful.
"""

EXPLAIN_A = """
Items are ordered by their true cluster, so a good similarity shows bright blocks on the diagonal, like the
ground truth. Move **α**: the predictions X A Bᵀ stay the same to rounding error (the gap is printed), yet the
heat map and the agreement scores change. AUROC is the probability that a same-cluster pair has a higher cosine
than a cross-cluster pair (0.5 is chance). Heat maps are average-pooled to at most 200×200 cells for display.
"""

EXPLAIN_B = """
Real sentence embeddings (all-MiniLM-L6-v2 on the CPU profile). Each embedding dimension is multiplied by
D = exp(strength·z), z ~ N(0, 1) with the seed shown. Cosines between the rescaled embeddings change and nearest
neighbours can swap, while dot products of the rescaled set with a set rescaled by D⁻¹ are exactly those of the
originals. **What this does and does not say:** MiniLM was trained with a cosine objective on normalised
embeddings, so its own cosines are meaningful *for it*: the rescaled space is a different model that scores
pairs identically under the dot product, not what MiniLM computes. The paper's warning is about models trained
with a dot product (like objective 1), where nothing fixes the scale of each dimension.
"""

EXAMPLE_SETS = {
    "Paraphrases": "A cat sits on the mat.\nA kitten is resting on the rug.\nThe stock market fell sharply today.\n"
                   "Shares dropped steeply this afternoon.\nI love reading books in the evening.\n"
                   "Reading novels at night is my favourite pastime.",
    "Topic groups": "The striker scored twice in the final.\nThe goalkeeper saved a penalty.\n"
                    "The central bank raised interest rates.\nInflation slowed for the third month.\n"
                    "The new vaccine reduced hospital admissions.\nDoctors recommend more sleep and exercise.",
    "Negations": "The movie was good.\nThe movie was not good.\nThe movie was bad.\n"
                 "The restaurant is open on Sundays.\nThe restaurant is closed on Sundays.",
}


def _pool(M: np.ndarray, cells: int = MAX_CELLS) -> np.ndarray:
    """Average-pool a square matrix to at most cells x cells."""
    n = M.shape[0]
    if n <= cells:
        return M
    edges = np.linspace(0, n, cells + 1).astype(int)
    rows = np.add.reduceat(M, edges[:-1], axis=0) / np.diff(edges)[:, None]
    return np.add.reduceat(rows, edges[:-1], axis=1) / np.diff(edges)[None, :]


def _heatmaps(panels: dict[str, np.ndarray]) -> go.Figure:
    names = list(panels)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.02)
    for i, name in enumerate(names, start=1):
        fig.add_trace(go.Heatmap(z=_pool(panels[name]), zmin=-1, zmax=1, colorscale="RdBu", reversescale=True,
                                 showscale=i == len(names), hovertemplate="cos %{z:.3f}<extra>" + name + "</extra>"),
                      row=1, col=i)
        fig.update_yaxes(autorange="reversed", showticklabels=False, row=1, col=i)
        fig.update_xaxes(showticklabels=False, row=1, col=i)
    fig.update_layout(height=330, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    fig.update_annotations(font_size=11)
    return fig


def _single_heatmap(M: np.ndarray, title: str, labels: list[str] | None = None) -> go.Figure:
    fig = go.Figure(go.Heatmap(z=_pool(M) if labels is None else M, x=labels, y=labels, zmin=-1, zmax=1,
                               colorscale="RdBu", reversescale=True, hovertemplate="cos %{z:.3f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", showticklabels=labels is not None)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(title=title, height=380, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def _table(rows: list[dict]) -> list[list]:
    return [[r["embedding"]] + [round(r[k], 3) if np.isfinite(r[k]) else None
                                for k in ("item_auroc", "item_within", "item_between", "user_auroc",
                                          "user_item_auroc")] for r in rows]


TABLE_HEADERS = ["embedding", "item-item AUROC", "mean cos within", "mean cos between", "user-user AUROC",
                 "user-item AUROC"]


@guarded
def run_experiment(preset: str, seed: float, k: float, lam1: float, lam2: float, standardize: bool, project: bool,
                   progress: gr.Progress = gr.Progress()):
    """Simulate, fit both objectives, compare cosines: :data:`EXPERIMENT` (heat maps, table, summary, CSV,
    objective 1 at α = 0.5, and the state the α slider reuses)."""
    if preset not in C.PRESETS:
        raise C.InputError(f"Unknown preset {preset!r}; choose one of: {', '.join(C.PRESETS)}.")
    n_users, n_items, n_clusters = C.PRESETS[preset]
    seed = check_count(seed, what="Seed", low=0, high=2**31 - 1)
    k = check_count(k, what="Rank k", low=1, high=n_items)
    lam1 = check_number(lam1, what="Lambda (objective 1)", low=0, high=1e9)
    lam2 = check_number(lam2, what="Lambda (objective 2)", low=0, high=1e9)
    progress(0.1, desc="Simulating users and items")
    sim = C.simulate(n_users, n_items, n_clusters, seed=seed)
    progress(0.4, desc="Fitting both objectives (one eigendecomposition)")
    G = C.gram(sim.X)
    f1 = C.fit(sim.X, 1, lam1, k, standardize=standardize, G=G)
    f2 = C.fit(sim.X, 2, lam2, k, standardize=standardize, G=G)
    progress(0.7, desc="Comparing cosines")
    cmp = C.compare(sim, f1, f2, project=project, seed=seed)
    summary = (f"{n_users:,} users × {n_items:,} items in {n_clusters} clusters, {sim.X.nnz:,} interactions "
               f"({sim.X.nnz / n_users:.0f} per user on average), seed {seed}. Simulated in {sim.seconds:.2f} s, "
               f"both fits in {f1.seconds + f2.seconds:.2f} s, comparison in {cmp.seconds:.2f} s. "
               f"Largest change of any prediction X A Bᵀ across the α values shown: **{cmp.prediction_gap:.2e}** "
               f"(first 2,000 users).{' X was column-standardised before fitting.' if standardize else ''}")
    settings = {"preset": preset, "seed": seed, "k": k, "lambda1": lam1, "lambda2": lam2, "standardize": standardize,
                "prediction_gap": cmp.prediction_gap}
    export = export_dicts("cosine-agreement", cmp.rows, comment=json.dumps(settings))
    state = {"sim": sim, "f1": f1}
    view = C.alpha_view(sim, f1, 0.5)
    return EXPERIMENT.pack(heat=_heatmaps(cmp.panels), table=_table(cmp.rows), summary=summary, export=export,
                           alpha_plot=_single_heatmap(view.cosine, "objective 1 at α = 0.5"),
                           alpha_md=_alpha_text(view), state=state)


def _alpha_text(v: C.AlphaView) -> str:
    return (f"α = {v.alpha:.2f}: item-item AUROC **{v.agreement.auroc:.3f}**, mean cosine within clusters "
            f"{v.agreement.within:.3f}, between {v.agreement.between:.3f}. Predictions differ from α = 0.5 by at most "
            f"**{v.prediction_gap:.1e}**.")


@guarded
def update_alpha(alpha: float, state: dict | None):
    """Objective 1 at another alpha, from the cached fit (no refit)."""
    if not state:
        raise C.InputError("Run the experiment first; the slider re-uses its fit.")
    alpha = check_number(alpha, what="alpha", low=-1.0, high=2.0)
    v = C.alpha_view(state["sim"], state["f1"], alpha)
    return ALPHA.pack(alpha_plot=_single_heatmap(v.cosine, f"objective 1 at α = {alpha:.2f}"),
                      alpha_md=_alpha_text(v))


@guarded
def run_embeddings(text: str, strength: float, seed: float):
    """Embed sentences, rescale dimensions, compare cosines and nearest neighbours."""
    from backends.config import check_text

    text = check_text(text, what="Sentences")
    sentences = C.check_sentences(text.splitlines())
    seed = check_count(seed, what="Seed", low=0, high=2**31 - 1)
    strength = check_number(strength, what="Strength", low=0, high=5)
    E = C.embed(sentences)
    r = C.rescale_embeddings(E, sentences, strength=strength, seed=seed)
    short = [s if len(s) <= 28 else s[:27] + "…" for s in sentences]
    labels = [f"{i + 1}. {s}" for i, s in enumerate(short)]
    rows = [[labels[i], short[r.neighbours_before[i][0]], short[r.neighbours_after[i][0]],
             "yes" if r.neighbours_before[i][0] != r.neighbours_after[i][0] else ""] for i in range(len(sentences))]
    md = (f"Dimension scales range from {r.scale.min():.2f} to {r.scale.max():.2f} (strength {strength}, seed {seed}). "
          f"**{r.rank_changes} of {len(sentences)}** sentences changed their nearest neighbour. Dot products of the "
          f"rescaled embeddings with the D⁻¹-rescaled set differ from the originals by at most **{r.dot_gap:.1e}**.")
    return EMBEDDINGS.pack(before=_single_heatmap(r.cos_before, "cosine, original embeddings", labels),
                           after=_single_heatmap(r.cos_after, "cosine after rescaling dimensions by D", labels),
                           neighbours=rows, summary=md)


def build() -> None:
    gr.Markdown(INTRO)
    with gr.Tabs():
        with gr.Tab("A: the paper's experiment"):
            with gr.Row():
                preset = gr.Dropdown(list(C.PRESETS), value=list(C.PRESETS)[0], label="Data size")
                seed = gr.Number(value=0, precision=0, label="Seed", minimum=0)
                k = gr.Number(value=50, precision=0, label="Rank k", minimum=1)
                lam1 = gr.Number(value=10_000, label="λ objective 1", minimum=0)
                lam2 = gr.Number(value=100, label="λ objective 2", minimum=0)
            with gr.Row():
                standardize = gr.Checkbox(label="Remedy: standardise X before fitting")
                project = gr.Checkbox(label="Remedy: also show the projection back to item space (X A Bᵀ)")
                run = gr.Button("Simulate and fit", variant="primary")
            summary = gr.Markdown()
            heat = gr.Plot(label="Item-item cosine similarities")
            explain(EXPLAIN_A)
            table = gr.Dataframe(headers=TABLE_HEADERS, label="Agreement with the true clusters", interactive=False)
            export = gr.File(label="Agreement scores (CSV)")
            with gr.Row():
                with gr.Column(scale=1):
                    alpha = gr.Slider(-0.5, 1.5, value=0.5, step=0.05, label="α (objective 1 rescaling)")
                    alpha_md = gr.Markdown()
                with gr.Column(scale=2):
                    alpha_plot = gr.Plot(label="Objective 1 at α")
            state = gr.State()
            run.click(run_experiment, [preset, seed, k, lam1, lam2, standardize, project],
                      EXPERIMENT.wire(heat=heat, table=table, summary=summary, export=export, alpha_plot=alpha_plot,
                                      alpha_md=alpha_md, state=state), api_name="cosine_experiment", **HEAVY)
            alpha.release(update_alpha, [alpha, state], ALPHA.wire(alpha_plot=alpha_plot, alpha_md=alpha_md),
                          api_name="cosine_alpha")
        with gr.Tab("B: real sentence embeddings"):
            explain(EXPLAIN_B)
            sentences = gr.Textbox(value=EXAMPLE_SETS["Paraphrases"], lines=7, label="Sentences (one per line)",
                                   max_length=C.MAX_SENTENCES * (C.MAX_SENTENCE_CHARS + 1))
            with gr.Row():
                for name, text in EXAMPLE_SETS.items():
                    gr.Button(name, size="sm").click(lambda t=text: t, None, sentences, api_visibility="private")
            with gr.Row():
                strength = gr.Slider(0, 3, value=1.0, step=0.1, label="Rescaling strength")
                seed_b = gr.Number(value=0, precision=0, label="Seed", minimum=0)
                run_b = gr.Button("Embed and rescale", variant="primary")
            md_b = gr.Markdown()
            with gr.Row():
                before = gr.Plot(label="Before")
                after = gr.Plot(label="After")
            nn = gr.Dataframe(headers=["sentence", "nearest before", "nearest after", "changed"], interactive=False,
                              label="Nearest neighbours")
            run_b.click(run_embeddings, [sentences, strength, seed_b],
                        EMBEDDINGS.wire(before=before, after=after, neighbours=nn, summary=md_b),
                        api_name="cosine_embeddings", **HEAVY)
