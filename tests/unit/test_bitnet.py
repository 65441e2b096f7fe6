"""BitNet b1.58: BitLinear's formulas, ternarize's copy, 2-bit packing and the storage/arithmetic counts.

No packaged models: a tiny random Llama from tests/fakes and hand-made tensors.
"""
import math

import numpy as np
import pytest
import torch

from backends.config import InputError
from backends.surgery import ternarize
from backends.surgery.bitlinear import BitLinear, activation_quant, rms_norm, weight_quant
from backends.surgery.bitnet import (
    BITS_BOUND,
    ENERGY_PJ,
    check_widths,
    pack_ternary,
    storage,
    ternary_stats,
    unpack_ternary,
)
from tests.fakes import tiny_llama, tiny_lm


def _ref_weight(w: np.ndarray, eps=1e-5):
    gamma = np.abs(w).mean()
    return np.clip(np.round(w / (gamma + eps)), -1, 1), gamma


def _ref_act(x: np.ndarray, eps=1e-5):
    eta = np.maximum(np.abs(x).max(axis=-1, keepdims=True), eps)
    return np.clip(np.round(x * 128 / eta), -128, 127), eta


def test_weight_quant_is_absmean_roundclip():
    w = torch.tensor([[0.5, -0.05, 2.0], [-1.0, 0.2, 0.0]])
    w_t, gamma = weight_quant(w)
    assert float(gamma) == pytest.approx(3.75 / 6)
    # w / gamma = [0.8, -0.08, 3.2], [-1.6, 0.32, 0] -> round -> [1, 0, 3], [-2, 0, 0] -> clip
    assert w_t.tolist() == [[1, 0, 1], [-1, 0, 0]]
    rng = np.random.default_rng(0)
    big = rng.standard_normal((64, 48)).astype(np.float32)
    ref, g = _ref_weight(big.astype(np.float64))
    w_t, gamma = weight_quant(torch.from_numpy(big))
    assert float(gamma) == pytest.approx(g, rel=1e-6)
    assert np.array_equal(w_t.numpy(), ref)
    # a Gaussian weight: |w| < gamma/2 has probability ~0.31 for gamma = E|w| = sqrt(2/pi)
    assert (w_t == 0).float().mean().item() == pytest.approx(0.31, abs=0.04)


def test_activation_quant_per_token_absmax_8bit():
    x = torch.tensor([[1.0, -0.5, 0.25, -2.0], [0.01, 0.02, -0.03, 0.0]])
    x_q, eta = activation_quant(x)
    assert eta.squeeze(-1).tolist() == pytest.approx([2.0, 0.03])
    assert x_q[0].tolist() == [64, -32, 16, -128]  # -2 * 128 / 2 = -128 stays; +128 would clip to 127
    assert x_q[1].tolist() == [43, 85, -128, 0]
    rng = np.random.default_rng(1)
    xs = rng.standard_normal((5, 7, 32)).astype(np.float32)
    ref, eta_ref = _ref_act(xs.astype(np.float64))
    x_q, eta = activation_quant(torch.from_numpy(xs))
    assert np.abs(x_q.numpy() - ref).max() <= 1  # float32 vs float64 rounding at a .5 boundary at most
    assert (x_q.numpy() != ref).mean() < 1e-3
    assert np.allclose(eta.numpy(), eta_ref, rtol=1e-6)
    assert x_q.min() >= -128 and x_q.max() <= 127 and torch.equal(x_q, x_q.round())
    x_pos = torch.tensor([[3.0, 1.5]])
    assert activation_quant(x_pos)[0].tolist() == [[127, 64]]  # the maximum maps to Q_b = 128, clipped to 127


@pytest.mark.parametrize("activations", [True, False])
@pytest.mark.parametrize("norm", [False, True])
def test_bitlinear_forward_is_the_formula(activations, norm):
    torch.manual_seed(0)
    lin = torch.nn.Linear(24, 10, bias=False)
    layer = BitLinear.from_linear(lin, activations=activations, norm=norm)
    x = torch.randn(3, 5, 24)
    with torch.no_grad():
        y = layer(x).double().numpy()
    xs = x.double().numpy()
    if norm:
        xs = xs / np.sqrt((xs ** 2).mean(-1, keepdims=True) + 1e-5)
    w_t, gamma = _ref_weight(lin.weight.detach().double().numpy())
    if activations:
        x_q, eta = _ref_act(xs)
        ref = (x_q @ w_t.T) * gamma * eta / 128  # y = W~ x~ * gamma * eta / Q_b
    else:
        ref = (xs @ w_t.T) * gamma
    assert np.allclose(y, ref, rtol=1e-4, atol=1e-5)


def test_bitlinear_gradients_are_straight_through():
    torch.manual_seed(1)
    layer = BitLinear.from_linear(torch.nn.Linear(16, 8, bias=False))
    x = torch.randn(4, 16, requires_grad=True)
    g = torch.randn(4, 8)
    layer(x).backward(g)
    with torch.no_grad():
        w_t, gamma = weight_quant(layer.weight)
        x_q, eta = activation_quant(x)
        x_dq = x_q * eta / 128
    # dy/dW passes through the rounding as identity: g^T x_dequantised; dy/dx: g (gamma W~)
    assert torch.allclose(layer.weight.grad, g.T @ x_dq, atol=1e-5)
    assert torch.allclose(x.grad, g @ (w_t * gamma), atol=1e-5)


def test_rms_norm_is_parameter_free():
    x = torch.tensor([[3.0, 4.0]])
    assert rms_norm(x).tolist()[0] == pytest.approx([3 / math.sqrt(12.5), 4 / math.sqrt(12.5)], rel=1e-5)
    assert sum(p.numel() for p in BitLinear(4, 3, norm=True).parameters()) == 12


def test_ternarize_copies_and_leaves_the_input_alone():
    lm = tiny_lm()
    before = {k: v.clone() for k, v in lm.model.state_dict().items()}
    q = ternarize(lm)
    assert q is not lm and q.model is not lm.model and q.tokenizer is lm.tokenizer
    assert q.name == "tiny-llama+b1.58" and lm.name == "tiny-llama" and q.weights == "b1.58"
    assert all(torch.equal(v, lm.model.state_dict()[k]) for k, v in before.items())
    assert not any(isinstance(m, BitLinear) for m in lm.model.modules())
    names = {n for n, m in q.model.named_modules() if isinstance(m, BitLinear)}
    linears = {n for n, m in lm.model.named_modules() if type(m) is torch.nn.Linear}
    assert names == linears - {"lm_head"} and len(names) == 2 * 7
    assert type(q.model.lm_head) is torch.nn.Linear
    assert q.n_params == lm.n_params  # same latent parameters, no norm added
    for n in names:  # the weights used are gamma * {-1, 0, 1}
        m = q.model.get_submodule(n)
        w_t, gamma = m.ternary()
        assert set(torch.unique(w_t).tolist()) <= {-1, 0, 1}
        assert gamma == pytest.approx(float(lm.model.get_submodule(n).weight.detach().abs().mean()), rel=1e-6)
    ids = torch.tensor([[1, 5, 6, 7, 8, 9, 10]])
    with torch.no_grad():
        a, b = lm.model(ids).logits, q.model(ids).logits
    assert a.shape == b.shape and torch.isfinite(b).all() and not torch.allclose(a, b)


def test_ternarize_a_transformers_model_and_options():
    model = tiny_llama(seed=3)
    q = ternarize(model, activations=False, norm=True, skip=("lm_head", "down_proj"))
    assert type(q) is type(model) and q is not model
    layer = q.model.layers[0]
    assert isinstance(layer.mlp.up_proj, BitLinear) and type(layer.mlp.down_proj) is torch.nn.Linear
    assert layer.mlp.up_proj.norm and not layer.mlp.up_proj.activations
    q_all = ternarize(model, skip=())
    assert isinstance(q_all.lm_head, BitLinear)
    with pytest.raises(InputError, match="no linear layers"):
        ternarize(model, skip=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
                               "lm_head"))
    with pytest.raises(InputError, match="LoadedModel or a transformers model"):
        ternarize("not a model")


def test_int8_models_are_refused_with_a_clear_message():
    from backends.quantize import int8_dynamic

    model = int8_dynamic(tiny_llama())
    with pytest.raises(InputError, match="int8.*float32 model"):
        ternarize(model)


def test_ternarized_model_trains_with_the_ste():
    torch.manual_seed(0)
    q = ternarize(tiny_llama(seed=0, hidden=32), norm=True)
    opt = torch.optim.AdamW(q.parameters(), lr=1e-2)
    ids = torch.randint(4, 40, (4, 16), generator=torch.Generator().manual_seed(0))
    ids[:, 1::2] = ids[:, 0::2]  # a learnable pattern: every odd token repeats the one before
    losses = []
    for _ in range(20):
        loss = q(ids, labels=ids).loss
        loss.backward()
        assert q.model.layers[0].self_attn.q_proj.weight.grad.abs().sum() > 0
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.5


def test_ternary_stats_shares_and_counts():
    stats = ternary_stats(tiny_lm())
    assert len(stats.layers) == 14 and stats.n_weights == sum(s.n for s in stats.layers)
    assert stats.zeros + stats.plus + stats.minus == pytest.approx(1.0)
    for s in stats.layers:
        assert s.zeros + s.plus + s.minus == pytest.approx(1.0)
        nnz = round((1 - s.zeros) * s.n)
        assert s.addsub <= nnz and s.addsub >= nnz - s.shape[0]
    lm = tiny_lm()
    total = sum(p.numel() for p in lm.model.parameters())
    assert stats.other_params == total - stats.n_weights
    # a ternarised model reports the same statistics as the model it came from
    assert ternary_stats(ternarize(lm)).zeros == pytest.approx(stats.zeros)


def test_pack_ternary_round_trip_is_exact():
    assert pack_ternary([-1, 0, 1, 1]).tolist() == [0 | 1 << 2 | 2 << 4 | 2 << 6]
    assert pack_ternary([1]).tolist() == [2 | 1 << 2 | 1 << 4 | 1 << 6]  # padded with zeros (code 1)
    rng = np.random.default_rng(0)
    for shape in [(1,), (3,), (4,), (5, 7), (64, 33), (2, 3, 5)]:
        v = rng.integers(-1, 2, size=shape).astype(np.int8)
        p = pack_ternary(v)
        assert p.dtype == np.uint8 and p.size == -(-v.size // 4)
        assert np.array_equal(unpack_ternary(p, shape), v)
    w_t, _ = BitLinear.from_linear(torch.nn.Linear(30, 7)).ternary()
    assert np.array_equal(unpack_ternary(pack_ternary(w_t.numpy()), w_t.shape), w_t.numpy())
    with pytest.raises(InputError, match=r"\{-1, 0, 1\}"):
        pack_ternary([0, 2])
    with pytest.raises(InputError, match="do not hold"):
        unpack_ternary(np.zeros(3, np.uint8), (5,))
    with pytest.raises(InputError, match="code 3"):
        unpack_ternary(np.array([255], np.uint8), (4,))


def test_storage_bytes_and_arithmetic():
    stats = ternary_stats(tiny_lm())
    s = storage(stats)
    n, k = stats.n_weights, len(stats.layers)
    outs = sum(x.shape[0] for x in stats.layers)
    ins = sum(x.shape[1] for x in stats.layers)
    assert s.bytes["fp16"] == 2 * n and s.bytes["fp32"] == 4 * n
    assert s.bytes["int8"] == n + 4 * outs
    assert s.bytes["ternary, 2-bit packed"] == sum(-(-x.n // 4) for x in stats.layers) + 4 * k
    assert s.bytes["log2(3) bound"] == pytest.approx(n * math.log2(3) / 8)
    assert BITS_BOUND == pytest.approx(1.585, abs=1e-3)
    assert s.bits_per_weight["ternary, 2-bit packed"] > 2 and s.bits_per_weight["ternary, 2-bit packed"] < 2.1
    assert s.fp_mults == n and s.fp_adds == n - outs
    assert s.ternary_mults == outs + ins and s.ternary_addsub == sum(x.addsub for x in stats.layers)
    assert s.ternary_skipped == pytest.approx(stats.zeros * n, abs=1)
    assert s.energy_pj["fp16"] == pytest.approx(n * 0.34 + (n - outs) * 0.16)
    # the paper's counting (every weight one fp16 multiply-add vs one int8 addition) gives its 71.4x
    paper_ratio = n * (ENERGY_PJ["fp16_mul"] + ENERGY_PJ["fp16_add"]) / s.energy_pj["ternary, paper's count"]
    assert paper_ratio == pytest.approx(71.4, abs=0.05)
    assert s.energy_ratio > 10
    assert {r["format"] for r in s.rows()} == set(s.bytes)


def test_check_widths_messages():
    assert check_widths("64, 32 32") == (32, 64)
    with pytest.raises(InputError, match="whole numbers"):
        check_widths("a, b")
    with pytest.raises(InputError, match="multiple of 8"):
        check_widths([60])
    with pytest.raises(InputError, match="one to four"):
        check_widths([16, 32, 64, 128, 256])
