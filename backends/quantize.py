"""Int8 inference on a CPU: PyTorch's dynamic quantisation of a causal LM's linear layers.

Decoding a 0.5B-1.5B model on a laptop CPU is limited by memory bandwidth: every new token reads
every weight once. Each ``nn.Linear`` (the LM head included) is replaced by PyTorch's dynamically
quantised Linear (``torch.ao.nn.quantized.dynamic.Linear``, fbgemm kernels), except the MLP output
projections (FLOAT32_LAYERS, below, says why); its weight is stored
as int8 with one scale per output channel, a quarter of the float32 bytes, and at each call the
input is quantised to int8 from its own range and the product accumulated in int32.

Why this scheme (``bench/bench_models.py`` and the closing note of issue 14 have the figures):
measured on a 2-core x86 CPU with torch 2.13 and torchao 0.18, one 896 x 151,936 head product
for one token took 86 ms in float32, 16 ms with this Linear (fbgemm int8), 155 ms with
``torch._weight_int8pack_mm`` (weight-only int8) and 158 ms with torchao's int8 dynamic tensor;
torchao's weight-only tensor converts the int8 weight to float32 at every call unless the model is
compiled, and decoded at 0.8 tokens/s against 2.2 for float32. torch marks eager quantisation as
deprecated in favour of torchao; when torchao's CPU path catches up, this module is the one
place to change.

One property changes: the input of a layer is quantised with one scale for the whole call, so a
row's numbers depend slightly on the other rows of its batch (and on padding). Float32 and the
``tiny`` profile are exactly batch-invariant; on int8, batched and one-at-a-time results agree
closely but not bit for bit, and the tabs say so where it shows (the tests measure how closely).

What the methods rely on stays intact: the input embeddings stay float32 (a lookup reads one row
per token, so int8 would save memory but no time), decoder layers keep their types and names
(forward hooks for the logit lens, early exit and self-speculation work unchanged), and
``get_output_embeddings()`` still returns the head, now a quantised module one can call.
"""
from __future__ import annotations

from typing import Any

# MLP output projections stay float32: their inputs (the MLP's intermediate activations) carry a few
# very large outlier values, and one int8 scale for the whole input cannot represent both those and
# the rest (the observation behind LLM.int8()). Measured on Qwen2.5-Coder-0.5B against float32
# (log-prob correlation on 256 tokens / greedy tokens agreeing before the first difference / decode
# tokens per second): every layer int8 0.969 / 0/32 / 12.3; all but these 0.995 / 32/32 / 10.1;
# float32 1 / 32/32 / 3.4. Names as in Llama/Qwen/Gemma (down_proj), Falcon (dense_4h_to_h),
# OPT/Phi (fc2) and Mixtral's experts (w2).
FLOAT32_LAYERS = ("down_proj", "dense_4h_to_h", "fc2", "w2")


def int8_dynamic(model: Any) -> Any:
    """Quantise the ``nn.Linear`` layers of ``model`` in place (weights int8 per output channel).

    Returns the model. A weight (out, in) becomes int8 (out, in) plus float scales (out,);
    inputs and outputs of each layer stay float32. Layers named in FLOAT32_LAYERS are kept.

    The same modules and numbers as ``torch.ao.quantization.quantize_dynamic`` with
    ``per_channel_dynamic_qconfig`` (``tests/unit/test_quantize.py`` compares them), built in half the time:
    torch's ``Linear.from_float`` first packs an empty weight of the layer's full size and then the real one,
    and fbgemm's packing is most of the cost (15 of the 1.5B model's 25 s). Here each layer is built at size
    1 x 1 and packed once, with its real weight. Each layer also records its parameter count and bytes, so
    that :func:`module_size` need not unpack every weight again (7.5 s for the 1.5B model).
    """
    import warnings

    import torch
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
    from torch.ao.nn.quantized.modules.utils import _quantize_weight
    from torch.ao.quantization import per_channel_dynamic_qconfig

    with warnings.catch_warnings():
        # torch points eager quantisation users to torchao and marks quantised tensors deprecated;
        # see the module docstring for why this is still the right kernel on torch 2.13 (pinned).
        warnings.filterwarnings("ignore", message=".*torchao.*")
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
        kinds = (torch.nn.Linear, torch.nn.modules.linear.NonDynamicallyQuantizableLinear)  # as quantize_dynamic
        chosen = [(name, m) for name, m in model.named_modules()
                  if type(m) in kinds and name.rsplit(".", 1)[-1] not in FLOAT32_LAYERS]
        for name, m in chosen:
            observer = per_channel_dynamic_qconfig.weight()
            observer(m.weight)
            qweight = _quantize_weight(m.weight.detach().float(), observer)
            bias = None if m.bias is None else m.bias.detach().float()
            q = DynamicLinear(1, 1, bias_=bias is not None, dtype=torch.qint8)
            q.in_features, q.out_features = m.in_features, m.out_features
            q.set_weight_bias(qweight, bias)
            n_bias = 0 if bias is None else bias.numel()
            q.workbench_size = (qweight.numel() + n_bias, qweight.numel() + m.out_features * 8 + n_bias * 4)
            parent, _, leaf = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, leaf, q)
    return model


def quantized_linears(model: Any) -> list[Any]:
    """The dynamically quantised linear layers of a model (empty for an unquantised one)."""
    from torch.ao.nn.quantized.dynamic import Linear

    return [m for m in model.modules() if isinstance(m, Linear)]


def module_size(model: Any) -> tuple[int, int]:
    """(parameter count, bytes held) of a model, quantised layers included.

    A quantised Linear keeps its weight in packed params rather than as a parameter, so
    ``model.parameters()`` alone would miss most of an int8 model.
    """
    params = list(model.parameters())
    n = sum(p.numel() for p in params)
    size = sum(p.numel() * p.element_size() for p in params)
    size += sum(b.numel() * b.element_size() for b in model.buffers())
    for m in quantized_linears(model):
        recorded = getattr(m, "workbench_size", None)  # set by int8_dynamic
        if recorded is not None:
            n, size = n + recorded[0], size + recorded[1]
            continue
        w, b = m._weight_bias()
        n += w.numel() + (b.numel() if b is not None else 0)
        size += w.numel() * w.element_size() + w.q_per_channel_scales().numel() * 8
        size += b.numel() * b.element_size() if b is not None else 0
    return n, size
