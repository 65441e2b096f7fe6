"""Sparse upcycling (Komatsuzaki et al. 2023): dense MLPs become mixtures of experts copied from them.

:func:`upcycle` deep-copies a LLaMA-like model (``model.model.layers[i].mlp``), and in the chosen layers (by
default every other one, the paper's "half of the MLP layers") replaces the MLP by a
:class:`backends.surgery.moe.MoEMLP` whose E experts are exact copies of that MLP and whose router W_g (H x E)
is new, drawn N(0, 0.02^2) from ``seed``. Every other weight is copied. With the top-K router (weights sum to
1, nothing dropped) the upcycled model computes the dense function at step 0; with expert choice the tokens no
expert takes lose their MLP update, and unnormalised weights scale the others down: the initial drop.

Counting: ``ParamCounts.active`` is the parameters one token passes through, k experts per MoE layer for top-K
and C on average for expert choice (E experts x C n / E tokens each, over n tokens). The experiments charge
6 x active non-embedding parameters per token as training FLOPs.

No torch at import: torch, transformers and :mod:`backends.surgery.moe` are imported inside the functions.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable

from backends.config import InputError
from backends.models import LoadedModel

ROUTERS = ("top_k", "expert_choice")
ROUTER_STD = 0.02  # std of the new router's weights (LLaMA's initializer_range); the paper: "randomly initialised"
MAX_EXPERTS = 64
MAX_CAPACITY = 16.0


# ----- validation and layer choice --------------------------------------------------------------------------


def _decoder_layers(model: Any) -> Any:
    """The ``nn.ModuleList`` of decoder blocks of a LLaMA-like transformers model, or an InputError."""
    layers = getattr(getattr(model, "model", None), "layers", None)
    if layers is None or not len(layers) or not all(hasattr(b, "mlp") for b in layers):
        raise InputError(f"Upcycling needs a LLaMA-like causal LM with model.model.layers[i].mlp; "
                         f"{type(model).__name__} has no such layers.")
    return layers


def _check_float(model: Any, lm: LoadedModel | None) -> None:
    """Quantised weights are packed (no copies to train, no backward): ask for a float copy."""
    quantised = (lm is not None and (lm.quantized or lm.weights in ("int8", "nf4"))) or any(
        "quantized" in type(m).__module__ or type(m).__name__.endswith("4bit") for m in model.modules())
    if quantised:
        name = lm.name if lm is not None else "this model"
        raise InputError(f"{name} runs with quantised (int8/4-bit) weights, which cannot be copied into trainable "
                         f"experts. Pick a float32 model (smollm2-135m-instruct, gemma3-270m, or a name with "
                         f"@float32 such as qwen2.5-coder-0.5b@float32).")


def default_layers(n_layers: int) -> list[int]:
    """Every other block, starting from the second (1, 3, 5, ...): half of the MLPs, as in the paper (and
    V-MoE). A one-layer model upcycles its only layer."""
    return list(range(1, n_layers, 2)) or [0]


def parse_layers(layers: Any, n_layers: int) -> list[int]:
    """Which blocks to upcycle: None or "every other" (the default), "all", or indices (an iterable of ints or
    a string "1, 3, 5"; negative ones count from the end). Sorted, unique; InputError on anything else."""
    if layers is None:
        return default_layers(n_layers)
    if isinstance(layers, str):
        text = layers.strip().lower()
        if text in ("", "every other", "half", "default"):
            return default_layers(n_layers)
        if text == "all":
            return list(range(n_layers))
        try:
            layers = [int(p) for p in text.replace(";", ",").split(",") if p.strip()]
        except ValueError:
            raise InputError(f"Layers must be 'every other', 'all' or block indices like '1, 3', got {layers!r}."
                             ) from None
    try:
        idx = [int(i) for i in layers]
    except (TypeError, ValueError):
        raise InputError(f"Layers must be block indices (whole numbers), got {layers!r}.") from None
    bad = [i for i in idx if not -n_layers <= i < n_layers]
    if bad or not idx:
        raise InputError(f"Layers must be block indices between 0 and {n_layers - 1} (the model has {n_layers} "
                         f"blocks), got {bad or 'none'}.")
    return sorted({i % n_layers for i in idx})


def check_settings(n_experts: Any, top_k: Any, router: Any, capacity: Any) -> tuple[int, int, str, float]:
    """Validated (n_experts, top_k, router, capacity) with messages that say what to change."""
    from backends.config import check_count, check_number

    e = check_count(n_experts, what="Experts", low=1, high=MAX_EXPERTS)
    if router not in ROUTERS:
        raise InputError(f"Router must be one of {', '.join(ROUTERS)}, got {router!r}.")
    k = check_count(top_k, what="Top-k", low=1, high=MAX_EXPERTS)
    if router == "top_k" and k > e:
        raise InputError(f"Top-k ({k}) cannot exceed the number of experts ({e}).")
    c = check_number(capacity, what="Capacity factor", low=0.01, high=MAX_CAPACITY)
    return e, k, router, c


# ----- the surgery ------------------------------------------------------------------------------------------


def upcycle(model: Any, n_experts: int = 4, top_k: int = 2, layers: Any = None, router: str = "top_k",
            capacity: float = 2.0, seed: int = 0, *, normalize: bool = False, init: str = "copy") -> Any:
    """A new model whose chosen MLPs are mixtures of ``n_experts`` experts copied from the dense MLP.

    ``model``: a LoadedModel (returns a new, unregistered LoadedModel named e.g. ``smollm2-135m-instruct+moe4``
    with the same tokenizer) or a transformers model (returns a new transformers model). The input is never
    modified. ``layers``: see :func:`parse_layers` (default every other block). ``router``: "top_k" (k =
    ``top_k``) or "expert_choice" (capacity factor ``capacity``, weights normalised per token if
    ``normalize``). ``seed`` draws the router. ``init="random"`` re-draws every expert instead of copying
    (N(0, initializer_range^2) weights, each expert its own draw): the MoE-from-scratch baseline.
    """
    import torch

    from backends.surgery.moe import MoEMLP

    lm = model if isinstance(model, LoadedModel) else None
    net = lm.model if lm is not None else model
    _check_float(net, lm)
    blocks = _decoder_layers(net)
    e, k, router, capacity = check_settings(n_experts, top_k, router, capacity)
    chosen = parse_layers(layers, len(blocks))
    if any(isinstance(blocks[i].mlp, MoEMLP) for i in chosen):
        raise InputError("Some of the chosen blocks are mixtures of experts already; upcycle a dense model.")
    if init not in ("copy", "random"):
        raise InputError(f"init must be 'copy' or 'random', got {init!r}.")
    hidden = int(net.config.hidden_size)
    new = copy.deepcopy(net)
    gen = torch.Generator().manual_seed(int(seed))
    std = float(getattr(net.config, "initializer_range", 0.02) or 0.02)
    for i in chosen:
        block = _decoder_layers(new)[i]
        dense = block.mlp
        experts = [copy.deepcopy(dense) for _ in range(e)]
        if init == "random":
            for expert in experts:
                for p in expert.parameters():
                    with torch.no_grad():
                        p.copy_(torch.randn(p.shape, generator=gen) * std if p.dim() > 1 else torch.zeros(p.shape))
        moe = MoEMLP(experts, hidden, router=router, top_k=min(k, e), capacity=capacity, normalize=normalize)
        with torch.no_grad():
            w = torch.randn(moe.router.weight.shape, generator=gen) * ROUTER_STD
            moe.router.weight.copy_(w)
        p0 = next(dense.parameters(), None)
        if p0 is not None:
            moe.to(device=p0.device, dtype=p0.dtype)
        block.mlp = moe
    new.config.upcycling = {"n_experts": e, "top_k": k, "router": router, "capacity": capacity,
                            "normalize": bool(normalize), "layers": chosen, "seed": int(seed), "init": init}
    if lm is None:
        return new
    counts = param_counts(new)
    tag = f"+moe{e}" + (f"top{k}" if router == "top_k" else "ec") + ("-scratch" if init == "random" else "")
    spec = dataclasses.replace(lm.spec, name=lm.name + tag,
                               description=f"{lm.name} upcycled: {len(chosen)} MLPs -> {e} experts ({router})")
    return dataclasses.replace(lm, spec=spec, model=new, n_params=counts.total,
                               memory_bytes=sum(p.numel() * p.element_size() for p in new.parameters()))


# ----- counting and router statistics -------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamCounts:
    """Parameter counts of a (possibly upcycled) model; ``active`` = what one token passes through."""

    total: int  # every parameter (tied weights once)
    active: int  # per token: non-MoE parameters + router + experts_per_token expert copies per MoE layer
    embedding: int  # the input embedding matrix (also the output head when tied)
    head: int  # an untied output head (0 when tied to the embedding)
    experts_per_token: float  # k (top-K), C on average (expert choice), 0 for a dense model
    moe_layers: tuple[int, ...]
    n_experts: int
    expert_params: int  # parameters of one expert (one dense MLP)

    @property
    def non_embedding(self) -> int:
        """Total parameters less the input embedding matrix (an untied head stays)."""
        return self.total - self.embedding

    @property
    def active_non_embedding(self) -> int:
        return self.active - self.embedding

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["moe_layers"] = list(self.moe_layers)
        d["active_non_embedding"] = self.active_non_embedding
        return d


def param_counts(model: Any) -> ParamCounts:
    """Counts of a LoadedModel or transformers model, dense or upcycled."""
    from backends.surgery.moe import MoEMLP

    net = model.model if isinstance(model, LoadedModel) else model
    total = sum(p.numel() for p in net.parameters())  # parameters() yields a tied tensor once
    emb = net.get_input_embeddings().weight
    head = net.get_output_embeddings()
    head_n = 0 if head is None or head.weight is emb else head.weight.numel()
    active, per_token, layers, n_exp, one = total, 0.0, [], 0, 0
    for i, block in enumerate(_decoder_layers(net)):
        if isinstance(block.mlp, MoEMLP):
            moe = block.mlp
            one = sum(p.numel() for p in moe.experts[0].parameters())
            per_token = float(moe.top_k) if moe.kind == "top_k" else moe.capacity
            active -= moe.n_experts * one
            active += round(min(per_token, moe.n_experts) * one)
            layers.append(i)
            n_exp = moe.n_experts
    return ParamCounts(total=total, active=active, embedding=emb.numel(), head=head_n, experts_per_token=per_token,
                       moe_layers=tuple(layers), n_experts=n_exp, expert_params=one)


def moe_modules(model: Any) -> dict[int, Any]:
    """{block index: MoEMLP} of an upcycled model (empty for a dense one)."""
    from backends.surgery.moe import MoEMLP

    net = model.model if isinstance(model, LoadedModel) else model
    return {i: b.mlp for i, b in enumerate(_decoder_layers(net)) if isinstance(b.mlp, MoEMLP)}


@dataclass(frozen=True)
class LayerRouting:
    """What one MoE layer's router did over the tokens it saw while tracking."""

    layer: int
    load: list[int]  # token slots per expert
    tokens: int
    dropped: float  # share of tokens no expert took (expert choice; 0 for top-K)
    reach: list[int]  # tokens by number of experts reached, 0..E
    balance: float  # Switch statistic E * sum_e f_e P_e of the last pass (1 = balanced)

    @property
    def load_share(self) -> list[float]:
        s = sum(self.load)
        return [x / s if s else 0.0 for x in self.load]

    @property
    def max_over_mean(self) -> float:
        """Busiest expert's load over the mean load (1 = perfectly even)."""
        m = sum(self.load) / len(self.load) if self.load else 0.0
        return max(self.load) / m if m else float("nan")


class tracking:
    """Context manager: accumulate router statistics of ``model``'s MoE layers while inside; ``.result()``."""

    def __init__(self, model: Any):
        self.mods = moe_modules(model)

    def __enter__(self) -> "tracking":
        for m in self.mods.values():
            m.reset_stats()
            m.tracking = True
        return self

    def __exit__(self, *exc: Any) -> None:
        for m in self.mods.values():
            m.tracking = False

    def result(self) -> list[LayerRouting]:
        return [LayerRouting(i, [int(x) for x in m.total_load], m.total_tokens,
                             m.total_dropped / m.total_tokens if m.total_tokens else 0.0,
                             [int(x) for x in m.total_reach], float(m.last_balance)) for i, m in self.mods.items()]


def routing_stats(model: Any, blocks: Iterable[Any], batch_size: int = 8) -> list[LayerRouting]:
    """Run ``blocks`` (token id rows, (n, T) array or tensors) through ``model`` and return each MoE layer's
    routing statistics over them."""
    import numpy as np
    import torch

    net = model.model if isinstance(model, LoadedModel) else model
    rows = np.asarray(list(blocks) if not hasattr(blocks, "shape") else blocks)
    was = net.training
    net.eval()
    try:
        with tracking(net) as t, torch.no_grad():
            for s in range(0, len(rows), batch_size):
                net(input_ids=torch.as_tensor(rows[s:s + batch_size], dtype=torch.long))
    finally:
        net.train(was)
    return t.result()
