"""Is cosine similarity of embeddings really about similarity? (Steck, Ekanadham & Kallus 2024)

A linear low-rank model X ~ X A B^T on implicit-feedback data X (users x items). Item embeddings are
the rows of B, user embeddings the rows of X A, predictions the dot products. Two objectives:

  1. ||X - X A B^T||^2 + lam ||A B^T||^2          (regularise the product)
  2. ||X - X A B^T||^2 + lam (||X A||^2 + ||B||^2)  (regularise each factor)

With X = U S V^T, objective 1 has A B^T = V_k diag(1 / (1 + lam / s_i^2)) V_k^T, and every
(A D, B D^-1) with D diagonal and invertible is also a solution: same predictions, other cosines.
Objective 2: A = V_k diag(sqrt((1/s)(1 - lam/s)_+)), B = V_k diag(sqrt(s (1 - lam/s)_+)).

Everything comes from one eigendecomposition of the item Gram matrix X^T X (items x items, built
from the sparse X), which gives V and s exactly; nothing of size users x items is ever made dense.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np
import scipy.sparse as sp

from backends.config import InputError, check_count, check_number, clean_text

if TYPE_CHECKING:
    from backends.models import LoadedModel

# Bounds that keep a request within a few seconds and a few hundred MB on a 2-core machine.
MAX_USERS = 50_000
MAX_ITEMS = 3_000
MAX_CLUSTERS = 50
MAX_SENTENCES = 40
MAX_SENTENCE_CHARS = 500
PRESETS = {
    "paper (20,000 users, 1,000 items, 5 clusters)": (20_000, 1_000, 5),
    "quick (2,000 users, 300 items, 5 clusters)": (2_000, 300, 5),
    "tiny (500 users, 100 items, 4 clusters)": (500, 100, 4),
}


@dataclass(frozen=True)
class Simulation:
    X: sp.csr_matrix  # (n_users, n_items) 0/1 interactions
    item_cluster: np.ndarray  # (n_items,) ground-truth cluster of each item
    user_cluster: np.ndarray  # (n_users,) each user's most preferred cluster
    item_popularity: np.ndarray  # (n_items,) base popularity p_i
    user_pref: np.ndarray  # (n_users, n_clusters) cluster preferences p_uc
    seed: int
    seconds: float


@dataclass(frozen=True)
class Fit:
    """A fitted model in closed form. For objective 1, A and B are the alpha = 0.5 member."""

    objective: int
    lam: float
    k: int
    V: np.ndarray  # (n_items, k) top right-singular vectors of X
    sigma: np.ndarray  # (k,) singular values, descending
    A: np.ndarray  # (n_items, k)
    B: np.ndarray  # (n_items, k)
    shrink: np.ndarray  # (k,) diagonal of A B^T in the V basis
    standardized: bool = False
    gram: np.ndarray | None = field(default=None, repr=False)  # (n_items, n_items) X^T X, for projections
    seconds: float = 0.0


@dataclass(frozen=True)
class Agreement:
    auroc: float  # P(cos of a same-cluster pair > cos of a cross-cluster pair)
    within: float  # mean cosine of same-cluster pairs
    between: float  # mean cosine of cross-cluster pairs


def _check_sizes(n_users: int, n_items: int, n_clusters: int) -> None:
    for name, v, lo, hi in (("users", n_users, 10, MAX_USERS), ("items", n_items, 10, MAX_ITEMS),
                            ("clusters", n_clusters, 2, MAX_CLUSTERS)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
            extra = ""
            big = isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > hi
            if big and v < 10**15:  # past that the estimates overflow a float, and mean nothing anyway
                if name == "users" and isinstance(n_items, (int, np.integer)) and 0 < n_items < 10**15:
                    extra = f" ({v:,} users would need about {v * n_items * 8 / 2**30 * 0.4:.1f} GiB while sampling)"
                if name == "items":
                    extra = (f" (the item Gram matrix alone would take {v * v * 8 / 2**20:,.0f} MiB and its "
                             "eigendecomposition grows with the cube of the item count)")
            shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:37] + "..."
            raise InputError(f"Number of {name} must be between {lo:,} and {hi:,}, got {shown}{extra}.")
    if n_clusters > n_items:
        raise InputError("There must be at least as many items as clusters.")


def simulate(n_users: int = 20_000, n_items: int = 1_000, n_clusters: int = 5, seed: int = 0) -> Simulation:
    """The paper's clustered implicit-feedback data.

    Items are split evenly into clusters. Cluster c draws beta_c ~ U(0.25, 1.5); item base
    popularity p_i ~ PowerLaw(beta_c) (numpy's power distribution, density beta x^(beta-1) on
    [0, 1]). Users draw cluster preferences p_uc ~ U(0, 1) and an activity k_u from PowerLaw(0.5),
    scaled to the item count; each user samples k_u distinct items with probability proportional
    to p_{u,c_i} p_i (exact weighted sampling without replacement, by Gumbel top-k).
    """
    _check_sizes(n_users, n_items, n_clusters)
    seed = check_count(seed, what="Seed", low=0, high=2**32 - 1)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    item_cluster = np.sort(np.arange(n_items) % n_clusters)  # items ordered by cluster
    beta = rng.uniform(0.25, 1.5, size=n_clusters)
    pop = rng.power(beta[item_cluster]) + 1e-12
    pref = rng.uniform(0.0, 1.0, size=(n_users, n_clusters))
    k_u = np.maximum(1, np.ceil(rng.power(0.5, size=n_users) * n_items)).astype(np.int64)
    rows, cols = [], []
    log_pop = np.log(pop)
    chunk = max(1, 4_000_000 // n_items)  # bounded memory: chunk x n_items floats at a time
    for start in range(0, n_users, chunk):
        stop = min(start + chunk, n_users)
        logits = np.log(pref[start:stop, item_cluster] + 1e-12) + log_pop  # (chunk, n_items)
        keys = logits + rng.gumbel(size=logits.shape)
        kth = -np.sort(-keys, axis=1)[np.arange(stop - start), k_u[start:stop] - 1]
        r, c = np.nonzero(keys >= kth[:, None])
        rows.append(r + start)
        cols.append(c)
    r, c = np.concatenate(rows), np.concatenate(cols)
    X = sp.csr_matrix((np.ones(r.size, dtype=np.float64), (r, c)), shape=(n_users, n_items))
    return Simulation(X, item_cluster, pref.argmax(1), pop, pref, seed, time.perf_counter() - t0)


def gram(X: sp.spmatrix | np.ndarray) -> np.ndarray:
    """X^T X (items x items, float64).

    The simulated X is about a third full, where a sparse-sparse product is slow (14 s at paper
    scale); dense float32 blocks of users through BLAS take about a second. Entries are 0/1, so the
    float32 block products are exact integers.
    """
    n, p = X.shape
    G = np.zeros((p, p), dtype=np.float64)
    step = max(1, 8_000_000 // p)  # rows per block: 32 MB of float32
    for start in range(0, n, step):
        block = X[start:start + step]
        block = block.toarray() if sp.issparse(block) else np.asarray(block)
        block = block.astype(np.float32)
        G += block.T @ block
    return G


def _gram(X: sp.spmatrix | np.ndarray, standardize: bool, G: np.ndarray | None = None) -> np.ndarray:
    """X^T X, or the same for column-standardised X, without densifying all of X at once."""
    G = gram(X) if G is None else G
    if standardize:
        n = X.shape[0]
        mu = np.asarray(X.mean(axis=0)).ravel()
        cov = G - n * np.outer(mu, mu)  # (X - 1 mu^T)^T (X - 1 mu^T)
        sd = np.sqrt(np.maximum(np.diag(cov) / n, 1e-12))
        G = cov / np.outer(sd, sd)
    return G


def fit(X: sp.spmatrix | np.ndarray, objective: int = 1, lam: float = 10_000.0, k: int = 50,
        *, standardize: bool = False, keep_gram: bool = True, G: np.ndarray | None = None) -> Fit:
    """Closed-form solution of objective 1 or 2 at rank k (see the module docstring).

    standardize: fit to column-standardised X instead (one of the paper's remedies).
    G: X^T X if already computed (:func:`gram`), so that several fits share one pass over X.
    """
    if objective not in (1, 2):
        raise InputError(f"objective must be 1 or 2, got {objective!r}.")
    try:
        ok = isinstance(lam, (int, float, np.number)) and bool(np.isfinite(float(lam))) and lam >= 0
    except (OverflowError, TypeError, ValueError):  # e.g. an int too large for a float
        ok = False
    if not ok:
        raise InputError(f"lambda must be a finite number >= 0, got {repr(lam)[:40]}.")
    p = X.shape[1]
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= p:
        raise InputError(f"The rank k must be between 1 and the number of items ({p}), got {k!r}.")
    t0 = time.perf_counter()
    G = _gram(X, standardize, G)
    evals, evecs = np.linalg.eigh(G)  # ascending
    order = np.argsort(evals)[::-1][:k]
    sigma = np.sqrt(np.maximum(evals[order], 0.0))
    V = evecs[:, order]
    V = V * np.where(V[np.abs(V).argmax(0), np.arange(k)] < 0, -1.0, 1.0)  # deterministic signs
    if objective == 1:
        shrink = sigma**2 / (sigma**2 + lam) if lam > 0 else np.ones_like(sigma)
        A, B = V * np.sqrt(shrink), V * np.sqrt(shrink)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            keep = np.where(sigma > 0, np.maximum(1.0 - lam / sigma, 0.0), 0.0)
            a = np.where(sigma > 0, np.sqrt(keep / sigma), 0.0)
        A, B = V * a, V * np.sqrt(sigma * keep)
        shrink = keep
    return Fit(objective, float(lam), int(k), V, sigma, A, B, shrink, standardize,
               G if keep_gram else None, time.perf_counter() - t0)


def rescale(f: Fit, alpha: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """One member (A, B) of objective 1's family of equivalent solutions.

    A = V diag(s)^(1 - alpha), B = V diag(s)^alpha with s the shrinkage 1/(1 + lam/sigma^2):
    alpha = 0 gives B = V (the "item-item cosine is the identity" choice), alpha = 1 gives A = V
    (user cosines from X X^T alone), alpha = 0.5 the symmetric split. A B^T is the same for every alpha.
    """
    if f.objective != 1:
        raise InputError("Only objective 1 has a family of rescaled solutions; objective 2's cosines are unique.")
    alpha = check_number(alpha, what="alpha", low=-1.0, high=2.0)
    s = np.maximum(f.shrink, 1e-300)
    return f.V * s ** (1.0 - alpha), f.V * s**alpha


def cosine_matrix(E: np.ndarray, F: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarities between the rows of E (and of F, if given); zero rows give 0."""
    def unit(M):
        n = np.linalg.norm(M, axis=1, keepdims=True)
        return np.divide(M, n, out=np.zeros_like(M, dtype=float), where=n > 0)

    Eu = unit(np.asarray(E, dtype=float))
    return Eu @ (Eu if F is None else unit(np.asarray(F, dtype=float))).T


def projected_item_cosine(f: Fit, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Item-item cosine of the columns of X A B^T (the remedy "project back to the item space").

    Columns of X M (M = A B^T) have inner products M^T (X^T X) M, so the users x items matrix is never built.
    """
    if f.gram is None:
        raise InputError("This fit was made without its Gram matrix (keep_gram=False).")
    M = A @ B.T
    H = M.T @ f.gram @ M
    d = np.sqrt(np.maximum(np.diag(H), 1e-300))
    return H / np.outer(d, d)


def agreement(C: np.ndarray, labels: Sequence[int], labels_cols: Sequence[int] | None = None) -> Agreement:
    """How well cosines C recover "same cluster or not": AUROC and mean cosine within/between.

    For a square matrix over one set (labels_cols None), the diagonal is left out.
    """
    C = np.asarray(C, dtype=float)
    lr = np.asarray(labels)
    lc = lr if labels_cols is None else np.asarray(labels_cols)
    same = lr[:, None] == lc[None, :]
    if labels_cols is None:  # symmetric: each pair once, diagonal left out
        mask = np.triu(np.ones_like(same, dtype=bool), k=1)
    else:
        mask = np.ones_like(same, dtype=bool)
    pos, neg = C[same & mask], C[~same & mask]
    if pos.size == 0 or neg.size == 0:
        raise InputError("Agreement needs both same-cluster and cross-cluster pairs.")
    # Mann-Whitney U through ranks (ties get average ranks): AUROC without the all-pairs matrix.
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([pos, neg]))
    auc = (ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size)
    return Agreement(float(auc), float(pos.mean()), float(neg.mean()))


def prediction_gap(X: sp.spmatrix, A1: np.ndarray, B1: np.ndarray, A2: np.ndarray, B2: np.ndarray,
                   max_users: int = 2_000) -> float:
    """Largest |X A1 B1^T - X A2 B2^T| over the first max_users users (predictions are unchanged)."""
    Xs = X[:max_users]
    return float(np.abs(Xs @ A1 @ B1.T - Xs @ A2 @ B2.T).max())


# ----- part B: real sentence embeddings ----------------------------------------------------------
@dataclass(frozen=True)
class EmbeddingRescale:
    sentences: list[str]
    scale: np.ndarray  # (d,) the diagonal of D
    cos_before: np.ndarray  # (n, n)
    cos_after: np.ndarray  # (n, n) cosines of E D
    dot_gap: float  # max |E E^T - (E D)(E D^-1)^T|: dot products against the D^-1 set are unchanged
    neighbours_before: list[list[int]]  # each sentence's others, nearest first
    neighbours_after: list[list[int]]
    rank_changes: int  # sentences whose nearest neighbour changed


def check_sentences(sentences: Sequence[str]) -> list[str]:
    if isinstance(sentences, str) or not isinstance(sentences, (list, tuple)):
        raise InputError("Sentences must be a list of texts, one sentence each.")
    out = [clean_text(s).strip() for s in sentences if isinstance(s, str) and s.strip()]
    out = [s for s in out if s]
    if len(out) < 2:
        raise InputError("Enter at least two sentences (one per line).")
    if len(out) > MAX_SENTENCES:
        raise InputError(f"At most {MAX_SENTENCES} sentences, got {len(out)}.")
    long = [i + 1 for i, s in enumerate(out) if len(s) > MAX_SENTENCE_CHARS]
    if long:
        raise InputError(f"Sentence {long[0]} is over {MAX_SENTENCE_CHARS} characters; shorten it.")
    return out


def rescale_embeddings(E: np.ndarray, sentences: Sequence[str], strength: float = 1.0,
                       seed: int = 0) -> EmbeddingRescale:
    """Rescale embedding dimensions by D = exp(strength * z), z ~ N(0, 1) per dimension (seeded).

    Cosines of E D change; dot products of E D with E D^-1 equal those of E with E exactly.
    """
    strength = check_number(strength, what="Strength", low=0.0, high=5.0)
    seed = check_count(seed, what="Seed", low=0, high=2**32 - 1)
    E = np.asarray(E, dtype=np.float64)
    scale = np.exp(strength * np.random.default_rng(seed).standard_normal(E.shape[1]))
    before, after = cosine_matrix(E), cosine_matrix(E * scale)
    gap = float(np.abs(E @ E.T - (E * scale) @ (E / scale).T).max())

    def neighbours(C):
        return [[j for j in np.argsort(-C[i], kind="stable") if j != i] for i in range(len(C))]

    nb, na = neighbours(before), neighbours(after)
    changed = sum(1 for a, b in zip(nb, na) if a[0] != b[0])
    return EmbeddingRescale(list(sentences), scale, before, after, gap, nb, na, changed)


def embed(sentences: Sequence[str], model: "str | LoadedModel | None" = None) -> np.ndarray:
    """Float32 sentence embeddings (n, d) as the embedder outputs them, not renormalised: the sandbox
    studies the raw vectors. ``model``: a registry name, a loaded embedder, or None for the embedder slot."""
    from backends import decoding
    from backends.models import LoadedModel, registry

    emb = model if isinstance(model, LoadedModel) else registry().get(model, slot="embedder")
    return decoding.embed(emb, list(sentences), normalize=False, what="sentences")


# ----- the paper's comparison, as the tab shows it -------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    panels: dict[str, np.ndarray]  # name -> item-item cosine matrix (items ordered by cluster)
    rows: list[dict]  # one row per embedding choice: agreement of item-item, user-user, user-item cosines
    prediction_gap: float  # max |X A B^T| difference across the objective-1 rescalings shown
    seconds: float


def _user_sample(sim: Simulation, n: int, seed: int) -> np.ndarray:
    """Up to n users, ordered by their preferred cluster (for readable user heat maps)."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(sim.X.shape[0], size=min(n, sim.X.shape[0]), replace=False)
    return idx[np.argsort(sim.user_cluster[idx], kind="stable")]


def _row(name: str, sim: Simulation, users: np.ndarray, A: np.ndarray, B: np.ndarray, C_items: np.ndarray) -> dict:
    XA = sim.X[users] @ A
    items = agreement(C_items, sim.item_cluster)
    uu = agreement(cosine_matrix(XA), sim.user_cluster[users])
    ui = agreement(cosine_matrix(XA, B), sim.user_cluster[users], sim.item_cluster)
    return {"embedding": name, "item_auroc": items.auroc, "item_within": items.within, "item_between": items.between,
            "user_auroc": uu.auroc, "user_item_auroc": ui.auroc}


def compare(sim: Simulation, f1: Fit, f2: Fit, alphas: Sequence[float] = (0.0, 0.5, 1.0), *,
            project: bool = False, n_users: int = 500, seed: int = 0) -> Comparison:
    """Item-item cosines and agreement scores for objective 1 under each alpha, and objective 2."""
    t0 = time.perf_counter()
    users = _user_sample(sim, n_users, seed)
    panels = {"ground truth (same cluster)": (sim.item_cluster[:, None] == sim.item_cluster[None, :]).astype(float)}
    rows = []
    pairs = []
    for a in alphas:
        A, B = rescale(f1, a)
        pairs.append((A, B))
        name = f"objective 1, alpha={a:g}"
        panels[name] = cosine_matrix(B)
        rows.append(_row(name, sim, users, A, B, panels[name]))
    panels["objective 2"] = cosine_matrix(f2.B)
    rows.append(_row("objective 2", sim, users, f2.A, f2.B, panels["objective 2"]))
    if project:
        A, B = pairs[0]
        C = projected_item_cosine(f1, A, B)
        panels["objective 1, projected (X A B^T)"] = C
        proj = agreement(C, sim.item_cluster)
        rows.append({"embedding": "objective 1, projected (X A B^T)", "item_auroc": proj.auroc,
                     "item_within": proj.within, "item_between": proj.between,
                     "user_auroc": float("nan"), "user_item_auroc": float("nan")})
    gap = max((prediction_gap(sim.X, *pairs[0], *p) for p in pairs[1:]), default=0.0)
    return Comparison(panels, rows, gap, time.perf_counter() - t0)


@dataclass(frozen=True)
class AlphaView:
    alpha: float
    cosine: np.ndarray  # (n_items, n_items) item-item cosines of B = V diag(s)^alpha
    agreement: Agreement
    prediction_gap: float  # max |X A B^T - X A0 B0^T| against alpha = 0.5 (first 2,000 users)


def alpha_view(sim: Simulation, f1: Fit, alpha: float) -> AlphaView:
    """Objective 1 at one alpha, from the cached fit: no refitting, for the slider."""
    A, B = rescale(f1, alpha)
    C = cosine_matrix(B)
    A0, B0 = rescale(f1, 0.5)
    return AlphaView(float(alpha), C, agreement(C, sim.item_cluster), prediction_gap(sim.X, A, B, A0, B0))
