"""The cosine sandbox's closed forms, invariances, special cases and input checks."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from backends import cosine as C
from backends.config import InputError


@pytest.fixture(scope="module")
def small():
    return C.simulate(300, 40, 4, seed=1)


def _minimise(X: np.ndarray, objective: int, lam: float, k: int, seed: int = 0) -> tuple[np.ndarray, float]:
    """Direct numerical minimisation of the objective over A, B (L-BFGS from a random start)."""
    Xt = torch.tensor(X, dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    A = (0.1 * torch.randn(X.shape[1], k, generator=g, dtype=torch.float64)).requires_grad_()
    B = (0.1 * torch.randn(X.shape[1], k, generator=g, dtype=torch.float64)).requires_grad_()
    opt = torch.optim.LBFGS([A, B], max_iter=5000, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def loss():
        opt.zero_grad()
        fit = ((Xt - Xt @ A @ B.T) ** 2).sum()
        reg = (A @ B.T).pow(2).sum() if objective == 1 else (Xt @ A).pow(2).sum() + B.pow(2).sum()
        value = fit + lam * reg
        value.backward()
        return value

    for _ in range(5):
        opt.step(loss)
    return (A @ B.T).detach().numpy(), float(loss())


def _objective(X, A, B, objective, lam):
    fit = ((X - X @ A @ B.T) ** 2).sum()
    reg = ((A @ B.T) ** 2).sum() if objective == 1 else ((X @ A) ** 2).sum() + (B**2).sum()
    return fit + lam * reg


@pytest.mark.parametrize("objective,lam", [(1, 5.0), (2, 2.0)])
def test_closed_forms_match_direct_minimisation(objective, lam):
    rng = np.random.default_rng(0)
    X = (rng.random((30, 6)) < 0.4).astype(float)
    f = C.fit(sp.csr_matrix(X), objective, lam, k=2)
    closed = _objective(X, f.A, f.B, objective, lam)
    prod, numeric = _minimise(X, objective, lam, k=2)
    assert closed <= numeric + 1e-6 * max(1.0, numeric)  # the closed form is at least as good
    np.testing.assert_allclose(f.A @ f.B.T, prod, atol=1e-4)


def test_predictions_are_invariant_under_rescaling(small):
    f1 = C.fit(small.X, 1, 100.0, 10)
    ref = small.X @ f1.A @ f1.B.T
    for alpha in (-0.5, 0.0, 0.3, 0.5, 1.0, 1.5):
        A, B = C.rescale(f1, alpha)
        assert np.abs(small.X @ A @ B.T - ref).max() < 1e-10
    cos0 = C.cosine_matrix(C.rescale(f1, 0.0)[1])
    cos1 = C.cosine_matrix(C.rescale(f1, 1.0)[1])
    assert np.abs(cos0 - cos1).max() > 0.1  # ...while the cosines move
    assert C.prediction_gap(small.X, *C.rescale(f1, 0), *C.rescale(f1, 1)) < 1e-10


def test_full_rank_b_equals_v_gives_identity_item_cosines(small):
    p = small.X.shape[1]
    f1 = C.fit(small.X, 1, 100.0, k=p)
    _, B = C.rescale(f1, 0.0)  # B = V, all p directions
    np.testing.assert_allclose(C.cosine_matrix(B), np.eye(p), atol=1e-8)


def test_a_equals_v_gives_user_cosines_of_x_xt(small):
    p = small.X.shape[1]
    f1 = C.fit(small.X, 1, 100.0, k=p)
    A, _ = C.rescale(f1, 1.0)  # A = V
    users = small.X[:50]
    K = (users @ users.T).toarray()
    d = np.sqrt(np.diag(K))
    np.testing.assert_allclose(C.cosine_matrix(users @ A), K / np.outer(d, d), atol=1e-8)


def test_simulation_is_deterministic_under_a_seed():
    a, b, c = C.simulate(200, 30, 3, seed=5), C.simulate(200, 30, 3, seed=5), C.simulate(200, 30, 3, seed=6)
    assert (a.X != b.X).nnz == 0 and (a.X != c.X).nnz > 0
    assert set(np.unique(a.X.data)) == {1.0}
    assert np.all(np.asarray(a.X.sum(1)).ravel() >= 1)
    assert np.all(np.diff(a.item_cluster) >= 0) and len(set(a.item_cluster)) == 3


def test_gram_is_exact(small):
    np.testing.assert_array_equal(C.gram(small.X), (small.X.T @ small.X).toarray())


def test_standardised_fit_uses_the_standardised_gram(small):
    Xd = small.X.toarray()
    Z = (Xd - Xd.mean(0)) / Xd.std(0)
    f = C.fit(small.X, 1, 10.0, 5, standardize=True)
    np.testing.assert_allclose(f.gram, Z.T @ Z, atol=1e-8)


def test_projection_remedy_matches_the_dense_computation(small):
    f1 = C.fit(small.X, 1, 100.0, 5)
    A, B = C.rescale(f1, 0.5)
    P = small.X.toarray() @ A @ B.T
    np.testing.assert_allclose(C.projected_item_cosine(f1, A, B), C.cosine_matrix(P.T), atol=1e-8)


def test_agreement_scores():
    labels = np.array([0, 0, 1, 1])
    perfect = (labels[:, None] == labels[None, :]).astype(float)
    a = C.agreement(perfect, labels)
    assert a.auroc == 1.0 and a.within == 1.0 and a.between == 0.0
    assert C.agreement(-perfect, labels).auroc == 0.0
    assert C.agreement(np.ones((4, 4)), labels).auroc == 0.5


def test_objective_two_cosines_are_unique(small):
    f2 = C.fit(small.X, 2, 5.0, 5)
    with pytest.raises(InputError, match="unique"):
        C.rescale(f2, 0.3)
    np.testing.assert_allclose(f2.A @ f2.B.T, f2.V @ np.diag(f2.shrink) @ f2.V.T, atol=1e-10)


@pytest.mark.parametrize("call,message", [
    (lambda: C.simulate(10_000_000, 1000, 5), "GiB"),
    (lambda: C.simulate(1000, 100_000, 5), "MiB"),
    (lambda: C.simulate(1000, 100, 1), "clusters"),
    (lambda: C.fit(sp.csr_matrix(np.eye(20)), 1, 1.0, 21), "rank k"),
    (lambda: C.fit(sp.csr_matrix(np.eye(20)), 1, -1.0, 5), "lambda"),
    (lambda: C.fit(sp.csr_matrix(np.eye(20)), 3, 1.0, 5), "objective"),
    (lambda: C.rescale(C.fit(sp.csr_matrix(np.eye(20)), 1, 1.0, 5), float("nan")), "alpha"),
    (lambda: C.rescale(C.fit(sp.csr_matrix(np.eye(20)), 1, 1.0, 5), 7.0), "alpha"),
    (lambda: C.check_sentences(["only one"]), "at least two"),
    (lambda: C.check_sentences(["a", "b" * 600]), "over 500 characters"),
    (lambda: C.check_sentences(["x"] * 41), "At most 40"),
])
def test_bad_input_is_explained(call, message):
    with pytest.raises(InputError, match=message):
        call()


def test_embedding_rescale_keeps_dot_products():
    E = np.random.default_rng(0).standard_normal((5, 16))
    r = C.rescale_embeddings(E, list("abcde"), strength=2.0, seed=1)
    assert r.dot_gap < 1e-10
    assert np.abs(r.cos_before - r.cos_after).max() > 0.05
    same = C.rescale_embeddings(E, list("abcde"), strength=0.0)
    assert same.rank_changes == 0 and np.allclose(same.cos_before, same.cos_after)
    with pytest.raises(InputError):
        C.rescale_embeddings(E, list("abcde"), strength=-1)


def test_alpha_view_and_compare(small):
    G = C.gram(small.X)
    f1, f2 = C.fit(small.X, 1, 100.0, 8, G=G), C.fit(small.X, 2, 5.0, 8, G=G)
    cmp = C.compare(small, f1, f2, project=True, n_users=100)
    assert len(cmp.rows) == 5 and cmp.prediction_gap < 1e-10
    assert "ground truth (same cluster)" in cmp.panels
    v = C.alpha_view(small, f1, 0.2)
    assert v.cosine.shape == (40, 40) and v.prediction_gap < 1e-10 and 0 <= v.agreement.auroc <= 1


class _CountingEncoder:
    """Stands in for a sentence-transformers model: (length, count of 'a', 1) per text, unnormalised."""

    def encode(self, texts, **kwargs):
        assert kwargs.get("normalize_embeddings") is False
        return np.array([[len(t), t.count("a"), 1.0] for t in texts], dtype=np.float32)


def test_embed_returns_the_raw_vectors_of_the_model_given():
    from backends.models import EMBEDDER, LOCAL, LoadedModel, ModelSpec

    emb = LoadedModel(ModelSpec("counting", EMBEDDER, LOCAL, "/nonexistent"), _CountingEncoder(), None, "cpu",
                      "float32", 0, 0, 0.0, "folder")
    E = C.embed(["aa", "abc"], emb)
    assert E.dtype == np.float32
    np.testing.assert_array_equal(E, [[2, 2, 1], [3, 1, 1]])  # not renormalised: the sandbox studies these


def test_tab_outputs_are_named_once():
    from tabs import cosine as tab

    out = tab.EXPERIMENT.unpack(tab.run_experiment("tiny (500 users, 100 items, 4 clusters)", 0, 10, 10_000, 100,
                                                   False, False, progress=lambda *a, **k: None))
    assert "500 users" in out["summary"] and "α = 0.50" in out["alpha_md"]
    assert [r[0] for r in out["table"]][:4] == ["objective 1, alpha=0", "objective 1, alpha=0.5",
                                               "objective 1, alpha=1", "objective 2"]
    view = tab.ALPHA.unpack(tab.update_alpha(1.0, out["state"]))
    assert "α = 1.00" in view["alpha_md"] and view["alpha_plot"] is not None
