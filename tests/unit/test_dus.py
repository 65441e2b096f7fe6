"""Depth up-scaling (SOLAR) on tiny random transformers models: the layer plan, the copy, the KV cache."""
import dataclasses

import numpy as np
import pytest
import torch

from backends.config import InputError
from backends.surgery import depth_upscale
from backends.surgery import dus as D
from tests.fakes import tiny_lm


def _llama(layers=8, seed=0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(cfg).eval()


def _gemma3(layers=6, seed=0):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(seed)
    cfg = Gemma3TextConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                           num_attention_heads=4, num_key_value_heads=1, head_dim=8, sliding_window=4,
                           sliding_window_pattern=3, max_position_embeddings=64)
    return Gemma3ForCausalLM(cfg).eval()


def _greedy_without_cache(model, ids, n):
    x = ids
    with torch.no_grad():
        for _ in range(n):
            nxt = model(input_ids=x, use_cache=False).logits[:, -1].argmax(-1, keepdim=True)
            x = torch.cat([x, nxt], 1)
    return x


def test_layer_plan_is_the_papers():
    # SOLAR: n = 32, m = 8 -> 48 layers, A = 1..24, B = 9..32 (0-based here)
    order = D.layer_plan(32, 8)
    assert len(order) == 48 and order[:24] == list(range(24)) and order[24:] == list(range(8, 32))
    assert D.default_m(32) == 8 and D.default_m(30) == 8 and D.default_m(8) == 2
    assert D.layer_plan(3, 0) == [0, 1, 2, 0, 1, 2]  # the naive 2n stack
    assert len(D.layer_plan(30, 7)) == 46


@pytest.mark.parametrize("m", [-1, 8, 9, 2.5, "two", True])
def test_bad_m_is_refused_with_a_message(m):
    with pytest.raises(InputError, match="m .layers trimmed"):
        D.layer_plan(8, m)


def test_upscaled_llama_copies_the_right_layers_and_leaves_the_input_alone():
    base = _llama(8)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    big = depth_upscale(base, m=2)
    assert big is not base and len(big.model.layers) == 12 and big.config.num_hidden_layers == 12
    assert base.config.num_hidden_layers == 8 and len(base.model.layers) == 8
    assert all(torch.equal(v, base.state_dict()[k]) for k, v in before.items())
    order = [0, 1, 2, 3, 4, 5, 2, 3, 4, 5, 6, 7]
    for new_idx, (layer, src) in enumerate(zip(big.model.layers, order)):
        assert layer.self_attn.layer_idx == new_idx
        assert torch.equal(layer.mlp.up_proj.weight, base.model.layers[src].mlp.up_proj.weight)
        assert layer.mlp.up_proj.weight.data_ptr() != base.model.layers[src].mlp.up_proj.weight.data_ptr()
    # the two copies of a layer are independent tensors
    assert big.model.layers[2].mlp.up_proj.weight.data_ptr() != big.model.layers[6].mlp.up_proj.weight.data_ptr()
    assert torch.equal(big.model.embed_tokens.weight, base.model.embed_tokens.weight)
    p = D.plan(base, 2)
    assert (p.n, p.m, p.s, p.seam, p.naive_seam) == (8, 2, 12, (6, 3), (8, 1))
    assert p.params == sum(x.numel() for x in big.parameters())
    assert p.layers == tuple(i + 1 for i in order)


def test_generate_with_the_kv_cache_equals_a_forward_without_it():
    big = depth_upscale(_llama(8), m=2)
    ids = torch.randint(0, 50, (1, 10), generator=torch.Generator().manual_seed(0))
    out = big.generate(ids, max_new_tokens=8, do_sample=False, attention_mask=torch.ones_like(ids))
    assert torch.equal(out, _greedy_without_cache(big, ids, 8))
    # The control: without renumbering layer_idx the cache mixes layers and the two disagree.
    broken = depth_upscale(_llama(8), m=2)
    for layer in broken.model.layers:
        layer.self_attn.layer_idx = min(layer.self_attn.layer_idx, 7)
    bad = broken.generate(ids, max_new_tokens=8, do_sample=False, attention_mask=torch.ones_like(ids))
    assert not torch.equal(bad, _greedy_without_cache(broken, ids, 8))


def test_gemma3_layer_types_follow_the_copied_layers():
    base = _gemma3(6)
    types = list(base.config.layer_types)
    assert types.count("full_attention") == 2  # layers 3 and 6
    big = depth_upscale(base, m=1)
    order = D.layer_plan(6, 1)
    assert big.config.layer_types == [types[i] for i in order]
    assert [layer.self_attn.is_sliding for layer in big.model.layers] == [t == "sliding_attention"
                                                                           for t in big.config.layer_types]
    assert base.config.layer_types == types
    ids = torch.randint(0, 50, (1, 12), generator=torch.Generator().manual_seed(1))  # longer than the window
    out = big.generate(ids, max_new_tokens=8, do_sample=False, attention_mask=torch.ones_like(ids))
    assert torch.equal(out, _greedy_without_cache(big, ids, 8))


def test_a_loaded_model_gets_a_new_unregistered_loaded_model():
    lm = tiny_lm()
    big = depth_upscale(lm, m=0)
    assert big.name == "tiny-llama+dus0" and lm.name == "tiny-llama"
    assert big.tokenizer is lm.tokenizer and big.model is not lm.model
    assert len(big.model.model.layers) == 4 and len(lm.model.model.layers) == 2
    assert big.n_params == sum(p.numel() for p in big.model.parameters()) > lm.n_params
    assert dataclasses.replace(lm).spec.name == "tiny-llama"
    with pytest.raises(InputError, match="between 0 and 1"):
        depth_upscale(lm, m=2)


def test_layer_similarity_is_the_mean_cosine_of_layer_outputs():
    net = _llama(4)
    blocks = np.random.default_rng(0).integers(0, 50, (3, 16))
    sim = D.layer_similarity(net, blocks)
    assert sim.matrix.shape == (5, 5) and sim.tokens == 48
    np.testing.assert_allclose(np.diag(sim.matrix), 1.0, atol=1e-6)
    np.testing.assert_allclose(sim.matrix, sim.matrix.T, atol=1e-9)
    # Against hidden states from transformers itself (index 0: embeddings; the last one is after the norm,
    # so compare layers 1..3 only).
    with torch.no_grad():
        hs = net(input_ids=torch.as_tensor(blocks), output_hidden_states=True).hidden_states
    flat = [h.reshape(-1, h.shape[-1]).double() for h in hs]
    cos = torch.nn.functional.cosine_similarity(flat[1], flat[3], dim=-1).mean().item()
    assert sim.matrix[1, 3] == pytest.approx(cos, abs=1e-5)
    assert sim.seam(1) == pytest.approx(sim.matrix[3, 1]) and sim.seam(0) == pytest.approx(sim.matrix[4, 0])
    upd = [flat[i + 1] - flat[i] for i in range(2)]
    u = torch.nn.functional.cosine_similarity(upd[1], upd[0], dim=-1).mean().item()
    assert sim.update_cos[1] == pytest.approx(u, abs=1e-5)
    assert sim.loss is None
    with_loss = D.layer_similarity(net, blocks, loss=True, batch_size=2)  # two passes: 2 blocks, then 1
    with torch.no_grad():
        direct = net(input_ids=torch.as_tensor(blocks), labels=torch.as_tensor(blocks)).loss.item()
    assert with_loss.loss == pytest.approx(direct, rel=1e-5)
    np.testing.assert_allclose(with_loss.matrix, sim.matrix, atol=1e-6)


def test_the_experiment_config_is_checked():
    cfg = D.ExperimentConfig(layers=8).checked()
    assert cfg.m == 2
    with pytest.raises(InputError, match="between 0 and 3"):
        D.ExperimentConfig(layers=4, m=4).checked()
    with pytest.raises(InputError, match="Pick the runs"):
        D.ExperimentConfig(arms=("dus", "bigger")).checked()
