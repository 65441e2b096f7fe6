"""Sparse upcycling without packaged models: the MoE layer's formulas, the surgery, counts and validation."""
import dataclasses

import pytest
import torch

from backends.config import InputError
from backends.surgery import upcycle
from backends.surgery.moe import MoEMLP, capacity_tokens
from backends.surgery.upcycling import default_layers, param_counts, parse_layers, routing_stats
from tests.fakes import tiny_llama, tiny_lm

H = 16


pytestmark = pytest.mark.usefixtures("one_thread")


def _distinct_experts(n, seed=0):
    torch.manual_seed(seed)
    return [torch.nn.Sequential(torch.nn.Linear(H, 24), torch.nn.Tanh(), torch.nn.Linear(24, H)) for _ in range(n)]


def _moe(router, n=4, **kw):
    m = MoEMLP(_distinct_experts(n), H, router=router, **kw)
    with torch.no_grad():
        m.router.weight.normal_(0, 1.0, generator=torch.Generator().manual_seed(1))
    return m


def _inputs(b=3, t=10, seed=2):
    return torch.randn(b, t, H, generator=torch.Generator().manual_seed(seed))


# ----- the MoE layer against the formulas, written out token by token ----------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_is_softmax_over_the_kept_logits(k):
    moe, x = _moe("top_k", top_k=k), _inputs()
    with torch.no_grad():
        y = moe(x)
        for b in range(x.shape[0]):
            for t in range(x.shape[1]):
                logits = x[b, t] @ moe.router.weight.T  # x W_g, (E,)
                keep = torch.full_like(logits, -float("inf"))
                top = logits.topk(k).indices
                keep[top] = logits[top]  # KeepTopK: the rest to -inf
                g = torch.softmax(keep, 0)
                assert g.sum().item() == pytest.approx(1.0, abs=1e-6) and int((g > 0).sum()) == k
                want = sum(g[i] * e(x[b, t]) for i, e in enumerate(moe.experts))
                torch.testing.assert_close(y[b, t], want, atol=1e-5, rtol=1e-5)
    assert int(moe.last_load.sum()) == x.shape[0] * x.shape[1] * k and moe.last_dropped == 0.0


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("capacity", [0.5, 1.0, 2.0])
def test_expert_choice_each_expert_takes_its_top_tokens_of_the_sequence(capacity, normalize):
    moe, x = _moe("expert_choice", capacity=capacity, normalize=normalize), _inputs()
    n, e = x.shape[1], moe.n_experts
    t_cap = capacity_tokens(n, e, capacity)
    assert t_cap == max(1, -(-int(capacity * n) // e)) if capacity * n % e else t_cap == int(capacity * n / e)
    with torch.no_grad():
        y = moe(x)
        for b in range(x.shape[0]):
            s = torch.softmax(x[b] @ moe.router.weight.T, dim=-1)  # S: (n, E), softmax over experts
            picked = torch.zeros(n, e, dtype=torch.bool)
            for i in range(e):
                picked[s[:, i].topk(t_cap).indices, i] = True  # expert i's top T tokens of this sequence
            w = s * picked
            if normalize:
                w = w / w.sum(-1, keepdim=True).clamp_min(1e-30)
            for t in range(n):
                want = sum(w[t, i] * ex(x[b, t]) for i, ex in enumerate(moe.experts))
                torch.testing.assert_close(y[b, t], torch.as_tensor(want).expand(H), atol=1e-5, rtol=1e-5)
            assert torch.equal(moe.last_reach[b], picked.sum(-1))
    assert moe.last_load.tolist() == [x.shape[0] * t_cap] * e
    assert moe.last_dropped == pytest.approx(float((moe.last_reach == 0).float().mean()))


def test_expert_choice_with_copied_experts_scales_the_dense_output_by_the_kept_weight():
    dense = _distinct_experts(1)[0]
    x = _inputs(2, 12)
    for normalize in (False, True):
        moe = MoEMLP([dense] * 4, H, router="expert_choice", capacity=0.5, normalize=normalize)
        with torch.no_grad():
            moe.router.weight.normal_(0, 1.0, generator=torch.Generator().manual_seed(3))
            y, d = moe(x), dense(x)
            reach = moe.last_reach
            s = torch.softmax(x @ moe.router.weight.T, -1)
        assert (reach == 0).any() and (reach > 0).any()  # C = 0.5: some tokens dropped
        assert torch.equal(y[reach == 0], torch.zeros_like(y[reach == 0]))  # dropped: no MLP update at all
        if normalize:  # kept tokens get exactly the dense MLP
            torch.testing.assert_close(y[reach > 0], d[reach > 0], atol=1e-5, rtol=1e-5)
        else:  # kept tokens get the dense MLP times the sum of their (unnormalised) scores, below 1
            t_cap = capacity_tokens(12, 4, 0.5)
            for b in range(2):
                picked = torch.zeros(12, 4, dtype=torch.bool)
                for i in range(4):
                    picked[s[b, :, i].topk(t_cap).indices, i] = True
                kept = (s[b] * picked).sum(-1)
                torch.testing.assert_close(y[b], kept[:, None] * d[b], atol=1e-5, rtol=1e-5)
                assert (kept[kept > 0] < 1 - 1e-3).any()  # a real scaling, not the dense output


# ----- the surgery --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("e,k,layers", [(4, 2, None), (8, 2, "all"), (3, 1, [0]), (2, 2, "1")])
def test_top_k_upcycled_model_computes_the_dense_function_at_init(e, k, layers):
    dense = tiny_llama(layers=4, seed=5)
    before = {n: p.clone() for n, p in dense.state_dict().items()}
    moe = upcycle(dense, n_experts=e, top_k=k, layers=layers, seed=1)
    x = torch.randint(4, 40, (3, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(moe(x).logits, dense(x).logits, atol=1e-5, rtol=1e-5)
    # the input is untouched: same weights, still dense
    assert all(torch.equal(before[n], p) for n, p in dense.state_dict().items())
    assert not any(isinstance(b.mlp, MoEMLP) for b in dense.model.layers)
    chosen = parse_layers(layers, 4)
    assert [i for i, b in enumerate(moe.model.layers) if isinstance(b.mlp, MoEMLP)] == chosen
    for i in chosen:  # every expert an exact, separate copy of the dense MLP
        experts = moe.model.layers[i].mlp.experts
        assert len(experts) == e
        for ex in experts:
            for (n, p), q in zip(ex.named_parameters(), dense.model.layers[i].mlp.parameters()):
                assert torch.equal(p, q) and p.data_ptr() != q.data_ptr(), n
    # non-MoE weights copied, not shared
    assert torch.equal(moe.model.embed_tokens.weight, dense.model.embed_tokens.weight)
    assert moe.model.embed_tokens.weight.data_ptr() != dense.model.embed_tokens.weight.data_ptr()


def test_expert_choice_logits_differ_exactly_where_tokens_are_dropped():
    # One block, so a token's logits depend on its own MLP output and on attention before it only.
    dense = tiny_llama(layers=1, seed=4)
    with torch.no_grad():  # larger MLP weights so that a dropped MLP update is visible in the logits
        for p in dense.model.layers[0].mlp.parameters():
            p.mul_(20)
    moe = upcycle(dense, n_experts=4, layers=[0], router="expert_choice", capacity=0.5, normalize=True, seed=0)
    with torch.no_grad():
        moe.model.layers[0].mlp.router.weight.normal_(0, 1.0, generator=torch.Generator().manual_seed(0))
    x = torch.randint(4, 40, (2, 32), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        diff = (moe(x).logits - dense(x).logits).abs().amax(-1)  # (B, T)
    reach = moe.model.layers[0].mlp.last_reach
    dropped = reach == 0
    assert dropped.any() and (~dropped).any()
    assert diff[~dropped].max() < 1e-4
    assert diff[dropped].min() > 1e-3


def test_expert_choice_in_a_deeper_model_agrees_until_the_first_drop():
    dense = tiny_llama(layers=2, seed=4)
    moe = upcycle(dense, n_experts=4, layers=[0], router="expert_choice", capacity=0.5, normalize=True)
    x = torch.randint(4, 40, (1, 24), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        diff = (moe(x).logits - dense(x).logits).abs().amax(-1)[0]
    first = int((moe.model.layers[0].mlp.last_reach[0] == 0).nonzero()[0])
    assert diff[:first].max() < 1e-6 < diff[first]


def test_unnormalised_expert_choice_changes_every_token_at_init():
    dense = tiny_llama(layers=2, seed=4)
    moe = upcycle(dense, n_experts=4, router="expert_choice", capacity=2.0)
    x = torch.randint(4, 40, (2, 16))
    with torch.no_grad():
        diff = (moe(x).logits - dense(x).logits).abs().amax(-1)
    assert (diff > 1e-7).float().mean() > 0.9


def test_loaded_model_in_loaded_model_out_and_the_original_untouched():
    lm = tiny_lm()
    out = upcycle(lm, n_experts=8, top_k=2)
    assert out is not lm and out.name == "tiny-llama+moe8top2" and lm.name == "tiny-llama"
    assert out.tokenizer is lm.tokenizer and out.model is not lm.model
    assert not any(isinstance(b.mlp, MoEMLP) for b in lm.model.model.layers)
    assert out.n_params == sum(p.numel() for p in out.model.parameters()) > lm.n_params
    assert upcycle(lm, router="expert_choice").name == "tiny-llama+moe4ec"
    assert out.model.config.upcycling["layers"] == [1]


def test_param_counts_are_exact():
    dense = tiny_llama(layers=4)
    hidden, inter = 32, 64
    mlp = 3 * hidden * inter
    base = param_counts(dense)
    assert base.active == base.total == sum(p.numel() for p in dense.parameters()) and base.moe_layers == ()
    moe = upcycle(dense, n_experts=8, top_k=2)  # layers 1 and 3
    c = param_counts(moe)
    assert c.moe_layers == (1, 3) and c.expert_params == mlp and c.n_experts == 8
    assert c.total == base.total + 2 * (7 * mlp + hidden * 8)
    assert c.active == base.active + 2 * (1 * mlp + hidden * 8)
    assert c.active_non_embedding == c.active - dense.model.embed_tokens.weight.numel()
    ec = param_counts(upcycle(dense, n_experts=8, router="expert_choice", capacity=1.0))
    assert ec.experts_per_token == 1.0 and ec.active == base.active + 2 * hidden * 8


def test_random_init_draws_distinct_experts():
    dense = tiny_llama(layers=2)
    moe = upcycle(dense, n_experts=3, init="random", seed=0)
    experts = moe.model.layers[1].mlp.experts
    w = [ex.gate_proj.weight for ex in experts]
    assert not torch.equal(w[0], dense.model.layers[1].mlp.gate_proj.weight)
    assert not torch.equal(w[0], w[1]) and abs(float(w[0].detach().std()) - 0.02) < 0.005


def test_router_seed_decides_the_router():
    dense = tiny_llama(layers=2)
    r = [upcycle(dense, seed=s).model.layers[1].mlp.router.weight for s in (0, 0, 1)]
    assert torch.equal(r[0], r[1]) and not torch.equal(r[0], r[2])


@pytest.mark.parametrize("router", ["top_k", "expert_choice"])
def test_gradients_reach_router_and_experts(router):
    moe = upcycle(tiny_llama(layers=2), n_experts=4, router=router)
    x = torch.randint(4, 40, (2, 16))
    moe(input_ids=x, labels=x).loss.backward()
    layer = moe.model.layers[1].mlp
    assert layer.router.weight.grad is not None and layer.router.weight.grad.abs().sum() > 0
    assert sum(float(e.down_proj.weight.grad.abs().sum()) for e in layer.experts if e.down_proj.weight.grad
               is not None) > 0


def test_routing_stats_count_every_token():
    moe = upcycle(tiny_llama(layers=4), n_experts=4, top_k=2, layers="all")
    x = torch.randint(4, 40, (5, 12)).numpy()
    stats = routing_stats(moe, x, batch_size=2)
    assert [s.layer for s in stats] == [0, 1, 2, 3]
    for s in stats:
        assert s.tokens == 60 and sum(s.load) == 120 and s.dropped == 0.0 and s.reach[2] == 60
        assert sum(s.load_share) == pytest.approx(1.0) and s.max_over_mean >= 1.0
    ec = routing_stats(upcycle(tiny_llama(layers=2), router="expert_choice", capacity=0.5), x)
    assert ec[0].load == [5 * capacity_tokens(12, 4, 0.5)] * 4
    assert ec[0].dropped == pytest.approx(ec[0].reach[0] / 60) and ec[0].dropped > 0


def test_parse_layers():
    assert default_layers(30) == list(range(1, 30, 2)) and len(default_layers(30)) == 15
    assert default_layers(1) == [0]
    assert parse_layers(None, 4) == [1, 3] == parse_layers("every other", 4)
    assert parse_layers("all", 3) == [0, 1, 2]
    assert parse_layers("3, 1, -1", 4) == [1, 3]
    for bad in ("0, 9", "one", [], "1.5"):
        with pytest.raises(InputError, match="Layers"):
            parse_layers(bad, 4)


def test_bad_settings_are_refused_with_clear_messages():
    m = tiny_llama(layers=2)
    with pytest.raises(InputError, match="Top-k .3. cannot exceed the number of experts .2."):
        upcycle(m, n_experts=2, top_k=3)
    with pytest.raises(InputError, match="Router must be one of"):
        upcycle(m, router="hash")
    with pytest.raises(InputError, match="Experts must be between 1 and 64"):
        upcycle(m, n_experts=0)
    with pytest.raises(InputError, match="Capacity factor"):
        upcycle(m, router="expert_choice", capacity=float("nan"))
    with pytest.raises(InputError, match="LLaMA-like"):
        upcycle(torch.nn.Linear(3, 3))
    with pytest.raises(InputError, match="mixtures of experts already"):
        upcycle(upcycle(m), layers=[1])


def test_a_copy_that_does_not_fit_is_refused(monkeypatch):
    import backends.training

    monkeypatch.setattr(backends.training, "free_memory", lambda: 1000)
    with pytest.raises(InputError, match="needs about .* GB .8 experts in 1 layers.* use fewer experts"):
        upcycle(tiny_llama(layers=2), n_experts=8)


def test_int8_models_are_refused():
    from torch.ao.quantization import quantize_dynamic

    q = quantize_dynamic(tiny_llama(layers=2), {torch.nn.Linear}, dtype=torch.qint8)
    with pytest.raises(InputError, match="float32"):
        upcycle(q)
    lm = dataclasses.replace(tiny_lm(), quantized=True, weights="int8")
    with pytest.raises(InputError, match="qwen2.5-coder-0.5b@float32"):
        upcycle(lm)


def test_balance_loss_reaches_the_router_gradient_only():
    x = _inputs(2, 8).reshape(-1, H)

    def router_grad(balance, train=True):
        moe = _moe("top_k", top_k=2, balance=balance)
        moe.train(train)
        y = moe(x)
        y.pow(2).sum().backward()
        return y.detach(), moe.router.weight.grad.clone(), moe

    y0, g0, moe = router_grad(0.0)
    y1, g1, _ = router_grad(0.5)
    torch.testing.assert_close(y1, y0)  # the forward value (and so the reported loss) is unchanged
    w = moe.router.weight.detach().clone().requires_grad_(True)
    probs = torch.softmax(x @ w.T, -1)
    share = torch.bincount((x @ w.T).topk(2, -1).indices.reshape(-1), minlength=4).float() / (x.shape[0] * 2)
    aux = 0.5 * 4 * (share * probs.mean(0)).sum()  # Switch: alpha * E * sum_e f_e P_e
    (want,) = torch.autograd.grad(aux, w)
    torch.testing.assert_close(g1, g0 + want, atol=1e-6, rtol=1e-5)
    _, g_eval, _ = router_grad(0.5, train=False)  # evaluation mode: no auxiliary term
    torch.testing.assert_close(g_eval, g0)
