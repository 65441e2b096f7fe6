"""Int8 dynamic quantisation on the tiny random Llama: what is quantised, what is kept, how close
the outputs stay; and the registry's @int8 path on a local folder."""
import torch

from backends import models
from backends.quantize import int8_dynamic, module_size, quantized_linears
from tests.fakes import save_tiny_folder, tiny_llama


def test_every_linear_layer_is_int8_and_the_embeddings_stay_float32():
    model = tiny_llama(hidden=64, layers=2)
    n_linear = sum(isinstance(m, torch.nn.Linear) for m in model.modules())
    n_before, bytes_before = module_size(model)
    int8_dynamic(model)
    # 7 per layer and the head; each layer's MLP output projection (down_proj) stays float32
    assert n_linear == 2 * 7 + 1 and len(quantized_linears(model)) == n_linear - 2
    assert [n for n, m in model.named_modules() if type(m) is torch.nn.Linear] == [
        "model.layers.0.mlp.down_proj", "model.layers.1.mlp.down_proj"]
    assert model.model.embed_tokens.weight.dtype == torch.float32
    w, _ = model.lm_head._weight_bias()
    assert w.dtype == torch.qint8 and w.q_per_channel_scales().numel() == w.shape[0]  # one scale per row
    n_after, bytes_after = module_size(model)
    assert n_after == n_before  # every weight still counted
    embed = model.model.embed_tokens.weight.numel() * 4
    assert bytes_after - embed < 0.5 * (bytes_before - embed)


def test_int8_logits_stay_close_to_float32_and_hooks_still_fire():
    ref = tiny_llama(hidden=64, layers=2, seed=3)
    q = int8_dynamic(tiny_llama(hidden=64, layers=2, seed=3))
    ids = torch.randint(4, 40, (2, 24))
    seen = []
    hook = q.model.layers[0].register_forward_hook(lambda m, i, o: seen.append(1))
    with torch.inference_mode():
        a, b = ref(ids).logits, q(ids).logits
        head = q.get_output_embeddings()(q.model.norm(torch.randn(3, 64)))
    hook.remove()
    assert seen == [1] and head.shape == (3, ref.config.vocab_size)
    corr = torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1]
    assert corr > 0.99
    assert (a.argmax(-1) == b.argmax(-1)).float().mean() > 0.8


def test_registry_loads_a_local_folder_at_a_chosen_precision(tmp_path):
    folder = save_tiny_folder(tmp_path / "tiny", hidden=64)
    reg = models.ModelRegistry("tiny", cache_dir=tmp_path / "cache", device="cpu")
    reg.add("mine", str(folder))
    plain, q8, bf16 = reg.get("mine"), reg.get("mine@int8"), reg.get("mine@bfloat16")
    assert plain.info()["weights"] == "float32" and not plain.quantized
    assert q8.info()["weights"] == "int8" and q8.quantized and q8.memory_bytes < plain.memory_bytes
    assert q8.n_params == plain.n_params
    assert bf16.info()["weights"] == "bfloat16" and bf16.dtype == "bfloat16"
    assert reg.get("mine@int8") is q8  # each precision loads once


def test_int8_dynamic_builds_what_torch_quantize_dynamic_builds():
    """The faster build (each layer packed once) gives torch's modules bit for bit: the same int8 weights, scales
    and biases, the same logits, and module_size's recorded figures equal to those from unpacking."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    def model():  # Llama's attention has no biases; Qwen's has, so these do
        m = tiny_llama(hidden=64, layers=2, seed=5)
        for layer in m.model.layers:
            attn = layer.self_attn
            attn.q_proj.bias = torch.nn.Parameter(torch.randn(attn.q_proj.out_features))
        return m

    ours, ref = int8_dynamic(model()), model()
    names = [n for n, m in ref.named_modules() if isinstance(m, torch.nn.Linear) and not n.endswith("down_proj")]
    torch_q = quantize_dynamic(ref, {n: per_channel_dynamic_qconfig for n in names}, dtype=torch.qint8)
    a, b = dict(ours.named_modules()), dict(torch_q.named_modules())
    assert [n for n in a if type(a[n]) is not type(b[n])] == [] and len(quantized_linears(ours)) == len(names)
    for n in names:
        (wa, ba), (wb, bb) = a[n]._weight_bias(), b[n]._weight_bias()
        assert torch.equal(wa.int_repr(), wb.int_repr())
        assert torch.equal(wa.q_per_channel_scales(), wb.q_per_channel_scales())
        assert (ba is None and bb is None) or torch.equal(ba, bb)
        assert (a[n].in_features, a[n].out_features) == (b[n].in_features, b[n].out_features)
    ids = torch.randint(4, 40, (2, 16))
    with torch.inference_mode():
        assert torch.equal(ours(ids).logits, torch_q(ids).logits)
    for m in quantized_linears(ours):  # the recorded figures are what unpacking gives
        del m.workbench_size
    assert module_size(ours) == module_size(int8_dynamic(model()))
