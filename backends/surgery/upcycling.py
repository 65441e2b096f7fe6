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
from typing import Any, Iterable, Iterator

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


def _check_room(net: Any, blocks: Any, chosen: list[int], n_experts: int) -> None:
    """Refuse, with figures, a copy that would not fit in the free memory (a copy of the model plus E - 1 more
    copies of each chosen MLP)."""
    from backends.training import MEMORY_HEADROOM, free_memory

    size = sum(p.numel() * p.element_size() for p in net.parameters())
    mlp = sum(sum(p.numel() * p.element_size() for p in blocks[i].mlp.parameters()) for i in chosen)
    need, free = size + (n_experts - 1) * mlp, free_memory()
    if need > MEMORY_HEADROOM * free:
        gb = 2**30
        raise InputError(f"The upcycled copy needs about {need / gb:.1f} GB ({n_experts} experts in {len(chosen)} "
                         f"layers) and the machine has {free / gb:.1f} GB free: use fewer experts or layers.")


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
            capacity: float = 2.0, seed: int = 0, *, normalize: bool = False, init: str = "copy",
            balance: float | None = None) -> Any:
    """A new model whose chosen MLPs are mixtures of ``n_experts`` experts copied from the dense MLP.

    ``model``: a LoadedModel (returns a new, unregistered LoadedModel named e.g. ``smollm2-135m-instruct+moe4``
    with the same tokenizer) or a transformers model (returns a new transformers model). The input is never
    modified. ``layers``: see :func:`parse_layers` (default every other block). ``router``: "top_k" (k =
    ``top_k``) or "expert_choice" (capacity factor ``capacity``, weights normalised per token if
    ``normalize``). ``seed`` draws the router. ``init="random"`` re-draws every expert instead of copying
    (N(0, initializer_range^2) weights, each expert its own draw): the MoE-from-scratch baseline.
    ``balance``: weight of the top-K router's auxiliary balance loss (default 0.01, see
    :mod:`backends.surgery.moe`; 0 turns it off).
    """
    import torch

    from backends.surgery.moe import BALANCE, MoEMLP

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
    _check_room(net, blocks, chosen, e)
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
        moe = MoEMLP(experts, hidden, router=router, top_k=min(k, e), capacity=capacity, normalize=normalize,
                     balance=BALANCE if balance is None else float(balance))
        with torch.no_grad():
            w = torch.randn(moe.router.weight.shape, generator=gen) * ROUTER_STD
            moe.router.weight.copy_(w)
        p0 = next(dense.parameters(), None)
        if p0 is not None:
            moe.to(device=p0.device, dtype=p0.dtype)
        block.mlp = moe
    new.config.upcycling = {"n_experts": e, "top_k": k, "router": router, "capacity": capacity,
                            "normalize": bool(normalize), "layers": chosen, "seed": int(seed), "init": init,
                            "balance": BALANCE if balance is None else float(balance)}
    if lm is None:
        return new
    from backends.training import wrap

    tag = f"+moe{e}" + (f"top{k}" if router == "top_k" else "ec") + ("-scratch" if init == "random" else "")
    return wrap(new, lm, suffix=tag, description=f"{lm.name} upcycled: {len(chosen)} MLPs -> {e} experts ({router})")


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
    matmul_active: int  # weights of the matrix products one token passes through (the trainer's N, MoE-aware)

    @property
    def flops_per_token(self) -> float:
        """Training FLOPs per token, 6 x matmul_active (forward and backward; attention scores left out)."""
        return 6.0 * self.matmul_active

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
        d["flops_per_token"] = self.flops_per_token
        return d


def param_counts(model: Any) -> ParamCounts:
    """Counts of a LoadedModel or transformers model, dense or upcycled."""
    from backends.surgery.moe import MoEMLP
    from backends.training import matmul_params

    net = model.model if isinstance(model, LoadedModel) else model
    total = sum(p.numel() for p in net.parameters())  # parameters() yields a tied tensor once
    matmul = matmul_params(net)  # counts every expert: the MoE layers' unused experts come off below
    emb = net.get_input_embeddings().weight
    head = net.get_output_embeddings()
    head_n = 0 if head is None or head.weight is emb else head.weight.numel()
    active, per_token, layers, n_exp, one = total, 0.0, [], 0, 0
    for i, block in enumerate(_decoder_layers(net)):
        if isinstance(block.mlp, MoEMLP):
            moe = block.mlp
            one = sum(p.numel() for p in moe.experts[0].parameters())
            per_token = float(moe.top_k) if moe.kind == "top_k" else moe.capacity
            used = min(per_token, moe.n_experts)
            one_mm = sum(p.numel() for p in moe.experts[0].parameters() if p.dim() == 2)
            active += round((used - moe.n_experts) * one)
            matmul += round((used - moe.n_experts) * one_mm)
            layers.append(i)
            n_exp = moe.n_experts
    return ParamCounts(total=total, active=active, embedding=emb.numel(), head=head_n, experts_per_token=per_token,
                       moe_layers=tuple(layers), n_experts=n_exp, expert_params=one, matmul_active=matmul)


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


# ----- experiments --------------------------------------------------------------------------------------------

ARMS = ("dense", "dense_continued", "upcycled", "moe_scratch")
DEFAULT_CONFIG = {"layers": 2, "hidden": 64, "heads": 4}  # the comparison's dense model (a ScratchConfig)
ARM_LABELS = {"dense": "dense, budget B", "dense_continued": "dense continued", "upcycled": "upcycled",
              "moe_scratch": "MoE from scratch"}


@dataclass(frozen=True)
class Curve:
    """One arm of the comparison: held-out loss against cumulative FLOPs (counted from the dense model's start,
    so an arm that starts from the dense checkpoint starts at its cost)."""

    arm: str
    label: str
    steps: list[int]
    losses: list[float]  # training loss per step (nats per byte)
    flops: list[float]  # cumulative FLOPs after each step, offset included
    eval_steps: list[int]
    eval_loss: list[float]  # held-out mean NLL (nats per byte)
    eval_flops: list[float]
    planned_steps: int
    flops_per_token: float
    offset_flops: float
    seconds: float
    stopped: str

    @property
    def final_loss(self) -> float:
        return self.eval_loss[-1] if self.eval_loss else float("nan")

    @property
    def done(self) -> bool:
        return bool(self.steps) and self.steps[-1] >= self.planned_steps and not self.stopped


@dataclass(frozen=True)
class Comparison:
    """The paper's core experiment at toy scale, so far: a dense model trained to budget B, then the same extra
    compute spent three ways (dense continued, upcycled, an MoE from scratch given B plus the extra)."""

    curves: dict[str, Curve]  # by arm, in the order they ran
    counts: dict[str, dict]  # ParamCounts.to_dict() of the dense model and of the MoE
    routing: dict[str, list[LayerRouting]]  # "upcycled_init", "upcycled", "moe_scratch": held-out routing
    settings: dict
    data_source: str
    phase: str  # what ran last (for the progress line)
    seconds: float
    stopped: str  # "" or why the comparison ended early

    @property
    def complete(self) -> bool:
        return all(a in self.curves and self.curves[a].done for a in ARMS)

    def verdict(self) -> dict[str, float]:
        """Final held-out losses and the differences the paper's claims are about (nats per token, lower is
        better; positive gains favour the upcycled model), over the arms that have finished."""
        out: dict[str, float] = {f"final_{a}": c.final_loss for a, c in self.curves.items()}
        up = self.curves.get("upcycled")
        if up and up.eval_loss:
            out["upcycled_step0_loss"] = up.eval_loss[0]
            out["initial_drop"] = up.eval_loss[0] - self.curves["dense"].final_loss
            for other in ("dense_continued", "moe_scratch"):
                if other in self.curves:
                    out[f"gain_vs_{other}"] = self.curves[other].final_loss - up.final_loss
        return out

    def to_dict(self) -> dict:
        return {"curves": {a: dataclasses.asdict(c) for a, c in self.curves.items()}, "counts": self.counts,
                "routing": {k: [dataclasses.asdict(r) for r in v] for k, v in self.routing.items()},
                "settings": self.settings, "data_source": self.data_source, "seconds": self.seconds,
                "stopped": self.stopped, "verdict": self.verdict()}

    def curve_rows(self) -> tuple[list[str], list[list]]:
        """(header, rows): one row per evaluation of every arm."""
        header = ["arm", "step", "flops", "heldout_loss"]
        rows = [[a, s, f, round(x, 5)] for a, c in self.curves.items()
                for s, f, x in zip(c.eval_steps, c.eval_flops, c.eval_loss)]
        return header, rows


def plan(budget_steps: int, extra_steps: int, dense_fpt: float, moe_fpt: float) -> dict[str, int]:
    """Steps per arm at equal compute (every step trains on the same number of tokens): the upcycled model
    runs ``extra_steps``; the dense continuation gets the same FLOPs (more steps, each cheaper); the MoE from
    scratch gets the dense budget plus the same extra FLOPs."""
    extra = extra_steps * moe_fpt
    return {"dense": budget_steps, "upcycled": extra_steps,
            "dense_continued": max(1, round(extra / dense_fpt)),
            "moe_scratch": max(1, round((budget_steps * dense_fpt + extra) / moe_fpt))}


def _curve(arm: str, run: Any, planned: int, offset: float) -> Curve:
    return Curve(arm, ARM_LABELS[arm], list(run.steps), list(run.losses), [f + offset for f in run.flops],
                 list(run.eval_steps), list(run.eval_loss), [f + offset for f in run.eval_flops], planned,
                 run.flops_per_token, offset, run.seconds, run.stopped)


def compare_iter(config: Any = None, *, budget_steps: int = 1000, extra_steps: int = 500, n_experts: int = 8,
                 top_k: int = 2, router: str = "top_k", capacity: float = 2.0, layers: Any = None,
                 batch_size: int = 8, seed: int = 0, lr: float | None = None, evals: int = 8,
                 eval_blocks: int = 32, text: str | None = None, deadline: Any = None, progress: Any = None,
                 threads: int | None = 1) -> Iterator[Comparison]:
    """The note's best experiment, streamed: yields a :class:`Comparison` after every evaluation of every arm.

    ``config``: the dense model's :class:`backends.training.ScratchConfig` (default :data:`DEFAULT_CONFIG`,
    2 x 64, 140k parameters over bytes: at this size 1000 + 500 steps take about 5 minutes on two cores).
    The dense model trains ``budget_steps`` (budget B); then (1) it continues dense,
    (2) it is upcycled (``n_experts``, ``top_k``, ``router``, ``capacity``, ``layers`` as in :func:`upcycle`) and
    trains ``extra_steps``, (3) the same MoE with freshly drawn experts trains from scratch; arms (1) and (3)
    get the FLOPs of :func:`plan`. FLOPs per token are 6 x the active matrix weights (``ParamCounts``), so
    the MoE pays for its k experts. Every arm sees the same data order (``seed``), schedule (warm-up then
    cosine) and peak learning rate (``lr``; the trainer's default for scratch models when None); the
    continued arms start a fresh schedule and optimizer from the dense checkpoint. ``deadline``
    (:class:`backends.decoding.Deadline`) ends the comparison with what has finished. ``threads``: torch threads
    while it runs (default 1, see :func:`backends.training.torch_threads`; None leaves the setting alone).
    """
    import time

    from backends.config import check_count
    from backends.decoding import Deadline
    from backends.training import ScratchConfig, scratch_model, text_data, train_iter

    t0 = time.perf_counter()
    budget_steps = check_count(budget_steps, what="Dense budget (steps)", low=1, high=20_000)
    extra_steps = check_count(extra_steps, what="Extra steps", low=1, high=20_000)
    evals = check_count(evals, what="Evaluations per arm", low=1, high=100)
    n_experts, top_k, router, capacity = check_settings(n_experts, top_k, router, capacity)
    cfg = (config or ScratchConfig(**DEFAULT_CONFIG)).checked()
    chosen = parse_layers(layers, cfg.layers)
    dl = Deadline.of(deadline)
    settings = {"config": dataclasses.asdict(cfg), "budget_steps": budget_steps, "extra_steps": extra_steps,
                "n_experts": n_experts, "top_k": top_k, "router": router, "capacity": capacity, "layers": chosen,
                "batch_size": batch_size, "seed": seed, "lr": lr, "eval_blocks": eval_blocks}
    curves: dict[str, Curve] = {}
    routing: dict[str, list[LayerRouting]] = {}
    kw = dict(n_experts=n_experts, top_k=top_k, layers=chosen, router=router, capacity=capacity, seed=seed)

    from backends.training import torch_threads

    with torch_threads(threads):
        dense0 = scratch_model(cfg, seed=seed, name=f"dense-{cfg.layers}x{cfg.hidden}")
        data = text_data(dense0, text, seq_len=cfg.seq_len)
        moe_probe = upcycle(dense0, **kw)
        counts = {"dense": param_counts(dense0).to_dict(), "moe": param_counts(moe_probe).to_dict()}
        del moe_probe
        steps = plan(budget_steps, extra_steps, counts["dense"]["flops_per_token"], counts["moe"]["flops_per_token"])
        settings["steps"] = steps
        held = data.heldout[:eval_blocks]

        def snap(phase: str, stopped: str = "") -> Comparison:
            return Comparison(dict(curves), counts, dict(routing), settings, data.source, phase,
                              time.perf_counter() - t0, stopped)

        def run_arm(arm: str, model: Any, fpt: float, offset: float) -> Iterator[Comparison]:
            n = steps[arm]
            report = None if progress is None else (lambda f, msg: progress(f, f"{ARM_LABELS[arm]}: {msg}"))
            last = None
            for last in train_iter(model, data, steps=n, batch_size=batch_size, lr=lr, seed=seed,
                                   eval_every=max(1, n // evals), eval_blocks=eval_blocks, deadline=dl,
                                   flops_per_token=fpt, name=ARM_LABELS[arm], progress=report):
                curves[arm] = _curve(arm, last, n, offset)
                yield snap(ARM_LABELS[arm])
            self_model[arm] = last.model if last is not None else None

        self_model: dict[str, Any] = {}
        fd, fm = counts["dense"]["flops_per_token"], counts["moe"]["flops_per_token"]
        yield from run_arm("dense", dense0, fd, 0.0)
        dense_b = self_model["dense"]
        offset = curves["dense"].flops[-1] if curves["dense"].flops else 0.0
        for arm in ("dense_continued", "upcycled", "moe_scratch"):
            if dl.expired:
                yield snap("stopped", "time cap")
                return
            if arm == "dense_continued":
                yield from run_arm(arm, dense_b, fd, offset)
            elif arm == "upcycled":
                up = upcycle(dense_b, **kw)
                routing["upcycled_init"] = routing_stats(up, held)
                yield from run_arm(arm, up, fm, offset)
                routing["upcycled"] = routing_stats(self_model[arm], held)
            else:
                scratch = upcycle(scratch_model(cfg, seed=seed), init="random", **kw)
                yield from run_arm(arm, scratch, fm, 0.0)
                routing["moe_scratch"] = routing_stats(self_model[arm], held)
            self_model.pop(arm, None)  # free the trained copy: only the curves are kept
        stopped = next((c.stopped for c in curves.values() if c.stopped), "")
        yield snap("done", stopped)


def compare(config: Any = None, **kwargs: Any) -> Comparison:
    """:func:`compare_iter` run to the end: the final Comparison."""
    import collections

    return collections.deque(compare_iter(config, **kwargs), maxlen=1)[0]


@dataclass(frozen=True)
class Step0Variant:
    """One model at step 0: its held-out loss and, for an MoE, what its routers did."""

    label: str
    router: str  # "" for the dense model
    normalize: bool
    heldout_loss: float  # mean NLL per token (nats)
    counts: dict
    routing: list[LayerRouting]


@dataclass(frozen=True)
class Step0View:
    """The surgery on a packaged model, no training: held-out loss of the dense model and its upcycled copies."""

    model: str
    variants: list[Step0Variant]
    data_source: str
    n_tokens: int
    settings: dict
    seconds: float

    def to_dict(self) -> dict:
        return {"model": self.model, "data_source": self.data_source, "n_tokens": self.n_tokens,
                "settings": self.settings, "seconds": self.seconds,
                "variants": [{**dataclasses.asdict(v), "routing": [dataclasses.asdict(r) for r in v.routing]}
                             for v in self.variants]}


def step0_view(model: Any = None, *, n_experts: int = 4, top_k: int = 2, capacity: float = 2.0, layers: Any = None,
               seed: int = 0, blocks: int = 8, seq_len: int = 128, text: str | None = None, deadline: Any = None,
               progress: Any = None) -> Step0View:
    """Upcycle ``model`` (default: smollm2-135m-instruct) three ways, no training, and measure each copy's
    held-out loss on ``blocks`` blocks of ``seq_len`` tokens (SOTU held-out addresses, or ``text``): top-K
    (equals the dense loss: the combine weights sum to 1 and no token is dropped), expert choice with the
    paper's unnormalised weights for language, and expert choice normalised per token (only dropped tokens
    change). Each variant's router statistics come with it. One copy in memory at a time."""
    import gc
    import time

    from backends.config import check_count
    from backends.decoding import Deadline
    from backends.models import loaded
    from backends.training import heldout_loss, text_data

    t0 = time.perf_counter()
    lm = loaded(model or "smollm2-135m-instruct", "chat")
    _check_float(lm.model, lm)
    blocks = check_count(blocks, what="Held-out blocks", low=1, high=256)
    n_experts, top_k, _, capacity = check_settings(n_experts, top_k, "top_k", capacity)
    chosen = parse_layers(layers, len(_decoder_layers(lm.model)))
    dl = Deadline.of(deadline)
    data = text_data(lm, text, seq_len=seq_len, max_train_tokens=2 * seq_len, max_heldout_tokens=blocks * seq_len)
    held = data.heldout[:blocks]
    report = progress or (lambda f, msg: None)
    plans = [("dense", "", False), (f"top-{top_k}", "top_k", False), ("expert choice", "expert_choice", False),
             ("expert choice, normalised", "expert_choice", True)]
    variants = []
    for i, (label, router, normalize) in enumerate(plans):
        dl.check("The time budget ran out while scoring the upcycled copies; use fewer blocks or experts.")
        report(i / len(plans), f"{label}: held-out loss on {len(held)} blocks")
        if not router:
            variants.append(Step0Variant(label, "", False, heldout_loss(lm, data), param_counts(lm).to_dict(), []))
            continue
        up = upcycle(lm, n_experts=n_experts, top_k=top_k, layers=chosen, router=router, capacity=capacity,
                     seed=seed, normalize=normalize)
        with tracking(up.model) as t:
            loss = heldout_loss(up, data)
        variants.append(Step0Variant(label, router, normalize, loss, param_counts(up).to_dict(), t.result()))
        del up, t
        gc.collect()
    report(1.0, "done")
    settings = {"n_experts": n_experts, "top_k": top_k, "capacity": capacity, "layers": chosen, "seed": seed,
                "blocks": len(held), "seq_len": seq_len}
    return Step0View(lm.name, variants, data.source, int(held.size), settings, time.perf_counter() - t0)
