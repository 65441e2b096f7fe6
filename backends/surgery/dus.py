"""SOLAR depth up-scaling (Kim et al. 2023): grow a model in depth by stacking two trimmed copies of its layers.

With n base layers and m trimmed per copy, copy A keeps base layers 1..n-m, copy B keeps m+1..n, and the result
stacks A then B: s = 2(n - m) layers. SOLAR: n = 32, m = 8, s = 48 (Mistral-7B -> 10.7B). m = 0 is the naive
2n stack. Trimming shrinks the jump in "layer distance" at the seam: base layer n-m's output feeds base layer
m+1 (SOLAR: 24 -> 9) instead of base layer n's output feeding base layer 1.

The result is an ordinary dense model of the same architecture, with what transformers needs for it to run and
generate: ``num_hidden_layers``, every module's ``layer_idx`` (the KV cache is indexed by it) and the per-layer
config lists (``layer_types``: Gemma-3's sliding vs full attention follows the copied layer).

Besides the surgery: :func:`layer_similarity` (how alike the residual stream is after each base layer: what the
seam joins), :func:`step0` (held-out perplexity before and right after up-scaling a packaged model, evaluation
only) and :func:`experiment` (the method note's best experiment: a tiny base from scratch, then DUS, the naive
stack, the base itself and a same-depth model from scratch, all continued on the same tokens).

This module imports torch and the trainer inside its functions only.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from backends.config import InputError, check_count, check_number

if TYPE_CHECKING:
    from backends.models import LoadedModel

# SOLAR 10.7B's setting: the ratio m / n = 8 / 32 is the default for other depths.
PAPER_N, PAPER_M, PAPER_S = 32, 8, 48
# Config fields with one entry per layer: reordered with the layers.
PER_LAYER_FIELDS = ("layer_types", "no_rope_layers", "swa_layers")
# Config fields that list layer indices: mapped to the new indices of the layers they named.
INDEX_FIELDS = ("mlp_only_layers",)
DEFAULT_MODEL = "smollm2-135m-instruct"  # the packaged model the step-0 view uses by default (30 layers)
# SOLAR's figures (H6: the average of ARC, HellaSwag, MMLU, TruthfulQA, Winogrande, GSM8K), for the captions.
PAPER = {"base": "Mistral-7B (32 layers)", "upscaled": "SOLAR 10.7B (48 layers)", "h6_solar": 66.04,
         "h6_solar_instruct": 74.20, "h6_mixtral_instruct": 72.62}
ProgressFn = Callable[[float, str], None]


def default_m(n: int) -> int:
    """The paper's ratio m = n * 8 / 32, rounded (n = 30 -> 8, n = 8 -> 2)."""
    return int(round(n * PAPER_M / PAPER_N))


def layer_plan(n: int, m: int | None = None) -> list[int]:
    """The base layer (0-based) that each layer of the up-scaled model copies: [0..n-m-1] + [m..n-1].

    Raises InputError unless 0 <= m < n (m = n would leave no layers; m > n/2 still works: the copies then
    overlap less than they skip, and s = 2(n - m) < n shrinks the model)."""
    n = int(n)
    if n < 1:
        raise InputError(f"The model has {n} decoder layers; depth up-scaling needs at least one.")
    m = default_m(n) if m is None else m
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) and not (isinstance(m, float) and m.is_integer()):
        raise InputError(f"m (layers trimmed from each copy) must be a whole number, got {m!r}.")
    m = int(m)
    if not 0 <= m < n:
        raise InputError(f"m (layers trimmed from each copy) must be between 0 and {n - 1} for a model with {n} "
                         f"layers, got {m}: the up-scaled model has 2(n - m) layers.")
    return list(range(n - m)) + list(range(m, n))


@dataclass(frozen=True)
class Plan:
    """What depth up-scaling makes of a model, before (or without) building it. Layers are 1-based here, as in
    the paper."""

    model: str
    n: int  # base decoder layers
    m: int  # layers trimmed from each copy
    s: int  # up-scaled layers, 2(n - m)
    base_params: int
    params: int  # of the up-scaled model: base + (s - n) layers' worth
    layer_params: int  # one decoder layer
    seam: tuple[int, int]  # (base layer whose output, base layer that reads it) at the join, 1-based
    naive_seam: tuple[int, int]  # the same for the naive 2n stack: (n, 1)
    layers: tuple[int, ...]  # base layer (1-based) copied into each up-scaled layer

    @property
    def seam_distance(self) -> int:
        """How far back the seam jumps in base-layer index: (n - m) - (m + 1), against n - 1 for the naive stack."""
        return self.seam[0] - self.seam[1]

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["seam_distance"] = self.seam_distance
        return d


def decoder_layers(model: Any):
    """The nn.ModuleList of decoder layers of a LLaMA-like transformers model (``model.model.layers``)."""
    for path in ("model.layers", "model.language_model.layers", "layers"):
        obj = model
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if obj is not None and hasattr(obj, "__len__") and len(obj) > 0:
            return obj
    raise InputError(f"{type(model).__name__} has no decoder layer list (model.model.layers): depth up-scaling "
                     "works on LLaMA-like causal language models.")


def _text_config(model: Any) -> Any:
    cfg = model.config
    return cfg.get_text_config(decoder=True) if hasattr(cfg, "get_text_config") else cfg


def _unwrap(model: Any) -> tuple[Any, "LoadedModel | None"]:
    from backends.models import LoadedModel

    if isinstance(model, LoadedModel):
        if model.tokenizer is None:
            raise InputError(f"{model.name} is an embedder, not a causal language model; pick a language model.")
        return model.model, model
    if not hasattr(model, "config"):
        raise InputError(f"Depth up-scaling needs a transformers model or a LoadedModel, got {type(model).__name__}.")
    return model, None


def _n_params(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def plan(model: Any, m: int | None = None) -> Plan:
    """The up-scaled model's shape and size, computed without copying anything."""
    net, lm = _unwrap(model)
    layers = decoder_layers(net)
    n = len(layers)
    order = layer_plan(n, m)
    m = n - len(order) // 2
    per_layer = _n_params(layers[0])
    base = _n_params(net)
    return Plan(model=lm.name if lm else type(net).__name__, n=n, m=m, s=len(order), base_params=base,
                params=base + (len(order) - n) * per_layer, layer_params=per_layer, seam=(n - m, m + 1),
                naive_seam=(n, 1), layers=tuple(i + 1 for i in order))


def _stack(net: Any, order: Sequence[int]) -> Any:
    """A deep copy of ``net`` whose decoder layers are deep copies of base layers ``order``, renumbered."""
    import torch

    layers = decoder_layers(net)
    # Copy everything but the layer list once (the memo stands an empty list in for it), then each kept layer;
    # the input is never modified, not even for a moment (another request may be using it).
    placeholder = torch.nn.ModuleList()
    new = copy.deepcopy(net, memo={id(layers): placeholder})
    stacked = torch.nn.ModuleList(copy.deepcopy(layers[i]) for i in order)
    for new_idx, layer in enumerate(stacked):
        for module in layer.modules():  # the decoder layer and its attention both carry layer_idx
            if hasattr(module, "layer_idx"):
                module.layer_idx = new_idx
    owner = _owner_of(new, placeholder)
    owner.layers = stacked
    _renumber_config(_text_config(new), order, len(layers))
    if _text_config(new) is not new.config and hasattr(new.config, "num_hidden_layers"):
        new.config.num_hidden_layers = len(order)
    return new.eval()


def _owner_of(net: Any, placeholder: Any) -> Any:
    for module in net.modules():
        if getattr(module, "layers", None) is placeholder:
            return module
    raise AssertionError("the layer list's owner was not found in the copy")


def _renumber_config(cfg: Any, order: Sequence[int], n: int) -> None:
    """Give the copied config the new depth and per-layer lists that follow the copied layers."""
    cfg.num_hidden_layers = len(order)
    for name in PER_LAYER_FIELDS:
        values = getattr(cfg, name, None)
        if isinstance(values, (list, tuple)) and len(values) == n:
            setattr(cfg, name, type(values)(values[i] for i in order))
    for name in INDEX_FIELDS:
        values = getattr(cfg, name, None)
        if isinstance(values, (list, tuple)) and values:
            keep = set(values)
            setattr(cfg, name, type(values)(j for j, i in enumerate(order) if i in keep))
    if getattr(cfg, "max_window_layers", None) is not None and cfg.max_window_layers >= n:
        cfg.max_window_layers = len(order)  # "every layer" stays every layer (Qwen2)


def depth_upscale(model: Any, m: int | None = None) -> Any:
    """SOLAR's depthwise scaling: a NEW model of s = 2(n - m) layers, base layers 1..n-m then m+1..n.

    ``model``: a LoadedModel (returns a new unregistered LoadedModel named ``<name>+dus<m>`` with the same
    tokenizer) or a transformers causal LM (returns a new one). ``m`` defaults to the paper's ratio
    (:func:`default_m`); ``m = 0`` gives the naive 2n stack. The input is left untouched.
    """
    net, lm = _unwrap(model)
    n = len(decoder_layers(net))
    order = layer_plan(n, m)
    m = n - len(order) // 2
    new = _stack(net, order)
    if lm is None:
        return new
    from backends.training import wrap

    return wrap(new, lm, suffix=f"+dus{m}",
                description=f"{lm.name} depth up-scaled (SOLAR): {n} -> {len(order)} layers, m = {m}")


# ----- hidden-state similarity: why the seam is trimmed --------------------------------------------------


@dataclass(frozen=True)
class Similarity:
    """Mean cosine similarity between the residual stream after base layer i and after base layer j.

    Index 0 is the embeddings (the input of layer 1), index i the output of layer i (1-based), before the final
    norm. At the seam of an up-scaled model, base layer m+1 reads base layer n-m's output where it was trained
    on layer m's: ``matrix[n-m, m]`` says how alike the two are (the naive stack: ``matrix[n, 0]``).
    """

    model: str
    n: int
    matrix: np.ndarray  # (n+1, n+1) mean over tokens of cos(h_i, h_j)
    update_cos: np.ndarray  # (n,) mean cos between consecutive layers' updates h_i - h_{i-1}, i = 1..n (0 for i=1)
    norms: np.ndarray  # (n+1,) mean L2 norm of h_i
    tokens: int  # tokens averaged over
    loss: float | None = None  # mean NLL per predicted token on the same blocks (nats), when asked for

    def seam(self, m: int) -> float:
        """cos(output of layer n-m, output of layer m): what layer m+1 reads after stacking vs what it knew."""
        return float(self.matrix[self.n - m, m])

    def to_dict(self) -> dict:
        return {"model": self.model, "n": self.n, "tokens": self.tokens, "matrix": self.matrix.tolist(),
                "update_cos": self.update_cos.tolist(), "norms": self.norms.tolist()}


def layer_similarity(model: Any, blocks: np.ndarray, *, max_blocks: int = 8, batch_size: int = 4,
                     name: str | None = None, loss: bool = False) -> Similarity:
    """Per-layer hidden states of ``model`` over token ``blocks`` (int array (b, T)), compared pairwise.

    Hooks on the decoder layers read each layer's output (the residual stream before the final norm); the first
    layer's input is the embeddings. Each position is a sample; padding is not used (blocks are full).
    ``loss``: also the mean NLL per predicted token over the blocks, from the same forward passes (as
    :func:`backends.training.heldout_loss` computes it), so a caller needs no second pass over the base.
    """
    import torch

    net, lm = _unwrap(model)
    layers = decoder_layers(net)
    n = len(layers)
    blocks = np.asarray(blocks)
    if blocks.ndim != 2 or blocks.shape[0] == 0 or blocks.shape[1] == 0:
        raise InputError("The held-out text gave no token blocks to compare layers on; give a longer text.")
    blocks = blocks[:max_blocks]
    gram = torch.zeros(n + 1, n + 1, dtype=torch.float64)
    ugram = torch.zeros(n, dtype=torch.float64)
    norms = torch.zeros(n + 1, dtype=torch.float64)
    count = 0
    states: list = [None] * (n + 1)

    def grab(idx):
        def hook(module, args, kwargs, output):
            h = output[0] if isinstance(output, tuple) else output
            states[idx + 1] = h.detach()
            if idx == 0:
                x = args[0] if args else kwargs["hidden_states"]
                states[0] = x.detach()
        return hook

    handles = [layer.register_forward_hook(grab(i), with_kwargs=True) for i, layer in enumerate(layers)]
    device = next(net.parameters()).device
    # The decoder without its LM head when it has one (model.model): the logits are not needed here.
    trunk = net.model if hasattr(net, "model") and hasattr(net, "lm_head") and not loss else net
    if lm is not None:
        from backends.lm import scoring_batch_size

        batch_size = scoring_batch_size(lm, batch_size)  # int8: one block per pass, as heldout_loss does
    nll, predicted = 0.0, 0
    try:
        with torch.inference_mode():
            for start in range(0, len(blocks), batch_size):
                ids = torch.as_tensor(blocks[start:start + batch_size], dtype=torch.long, device=device)
                if loss:
                    out = net(input_ids=ids, labels=ids, use_cache=False)
                    nll += float(out.loss) * ids.shape[0] * (ids.shape[1] - 1)
                    predicted += ids.shape[0] * (ids.shape[1] - 1)
                else:
                    trunk(input_ids=ids, use_cache=False)
                h = torch.stack([s.float().reshape(-1, s.shape[-1]) for s in states]).double().cpu()  # (n+1, N, d)
                nrm = h.norm(dim=-1).clamp_min(1e-12)
                unit = (h / nrm[..., None]).reshape(n + 1, -1)
                gram += unit @ unit.T  # entry (i, j): the sum over tokens of cos(h_i, h_j)
                norms += nrm.sum(dim=1)
                upd = h[1:] - h[:-1]  # (n, N, d)
                uu = upd / upd.norm(dim=-1).clamp_min(1e-12)[..., None]
                ugram[1:] += (uu[1:] * uu[:-1]).sum(dim=-1).sum(dim=1)
                count += h.shape[1]
    finally:
        for hd in handles:
            hd.remove()
    return Similarity(model=name or (lm.name if lm else type(net).__name__), n=n, matrix=(gram / count).numpy(),
                      update_cos=(ugram / count).numpy(), norms=(norms / count).numpy(), tokens=count,
                      loss=nll / predicted if loss else None)


# ----- the experiments -------------------------------------------------------------------------------------


def _ppl(loss: float) -> float:
    return math.exp(min(loss, 50.0))


@dataclass(frozen=True)
class Step0:
    """Held-out loss of a model before and right after depth up-scaling (no training): evaluation only."""

    model: str
    plan: Plan
    base_loss: float  # mean NLL per token on the held-out blocks (nats)
    dus_loss: float  # the up-scaled model (m as planned), untrained
    naive_loss: float | None  # the naive 2n stack (m = 0), untrained; None when not asked for
    similarity: Similarity  # of the base model, on the same held-out blocks
    tokens: int  # held-out tokens scored
    source: str  # where the held-out text comes from
    seconds: float

    @property
    def base_ppl(self) -> float:
        return _ppl(self.base_loss)

    @property
    def dus_ppl(self) -> float:
        return _ppl(self.dus_loss)

    @property
    def naive_ppl(self) -> float | None:
        return None if self.naive_loss is None else _ppl(self.naive_loss)

    def to_dict(self) -> dict:
        return {"model": self.model, "plan": self.plan.to_dict(), "base_loss": self.base_loss,
                "dus_loss": self.dus_loss, "naive_loss": self.naive_loss, "base_ppl": self.base_ppl,
                "dus_ppl": self.dus_ppl, "naive_ppl": self.naive_ppl, "seam_cos": self.similarity.seam(self.plan.m),
                "naive_seam_cos": self.similarity.seam(0), "tokens": self.tokens, "source": self.source,
                "seconds": self.seconds, "similarity": self.similarity.to_dict()}


def step0(model: Any = None, m: int | None = None, *, text: str | None = None, blocks: int = 16, seq_len: int = 128,
          naive: bool = True, progress: ProgressFn | None = None, deadline: Any = None) -> Step0:
    """Perplexity of a packaged (or given) model on held-out text, before and right after depth up-scaling.

    ``model``: a LoadedModel, a registry name, or None for the default surgery model (smollm2-135m-instruct).
    Scores ``blocks`` held-out blocks of ``seq_len`` tokens (SOTU addresses never trained on by the workbench's
    trainer, or ``text``) with the base, the up-scaled model (m) and, if ``naive``, the 2n stack; and the base's
    layer similarity on the same blocks. Nothing is trained; the copies are dropped afterwards.
    """
    from backends.decoding import Deadline
    from backends.training import heldout_loss, text_data

    t0 = time.perf_counter()
    report = progress or (lambda f, msg: None)
    dl = Deadline.of(deadline)
    lm = _surgery_model(model)
    blocks = check_count(blocks, what="Held-out blocks", low=1, high=256)
    p = plan(lm, m)
    report(0.05, f"Held-out text for {lm.name}")
    data = text_data(lm, text, seq_len=seq_len, max_train_tokens=seq_len * 2, max_heldout_tokens=seq_len * blocks)
    held = data.heldout[:blocks]
    report(0.1, f"Scoring the base model ({p.n} layers) and its layers' similarity")
    sim = layer_similarity(lm, held, max_blocks=blocks, loss=True)
    base = float(sim.loss)
    dl.check("The step-0 evaluation ran past its time budget; score fewer blocks.")
    report(0.45, f"Depth up-scaling: {p.n} -> {p.s} layers (m = {p.m})")
    big = depth_upscale(lm, p.m)
    dus = heldout_loss(big, data, blocks)
    del big
    naive_loss = None
    if naive and p.m != 0:
        dl.check("The step-0 evaluation ran past its time budget; score fewer blocks.")
        report(0.7, f"Naive stack: {p.n} -> {2 * p.n} layers (m = 0)")
        stack = depth_upscale(lm, 0)
        naive_loss = heldout_loss(stack, data, blocks)
        del stack
    elif naive:
        naive_loss = dus
    report(1.0, "Done")
    return Step0(model=lm.name, plan=p, base_loss=base, dus_loss=dus, naive_loss=naive_loss, similarity=sim,
                 tokens=int(held.size), source=data.source, seconds=time.perf_counter() - t0)


def _surgery_model(model: Any) -> "LoadedModel":
    from backends.models import LoadedModel, loaded, registry

    if isinstance(model, LoadedModel):
        return model
    if model is None:
        names = registry().names()
        model = DEFAULT_MODEL if DEFAULT_MODEL in names else None
    lm = loaded(model, "chat")
    if lm.tokenizer is None:
        raise InputError(f"{lm.name} is an embedder, not a causal language model; pick a language model.")
    return lm


# The continued-pretraining experiment: a tiny base from scratch, then four arms on the same tokens.
ARMS = ("dus", "naive", "base", "scratch")
ARM_LABELS = {"dus": "DUS", "naive": "naive 2n stack", "base": "base, continued", "scratch": "from scratch"}


@dataclass(frozen=True)
class ExperimentConfig:
    """The note's best experiment at a size two CPU cores finish in a few minutes (defaults measured)."""

    layers: int = 8  # base depth n
    hidden: int = 64  # residual width of the byte-level scratch models
    heads: int = 4
    m: int | None = None  # layers trimmed per copy; None: n/4 (the paper's 8/32)
    base_steps: int = 300  # steps that pretrain the base from scratch
    steps: int = 150  # continued-pretraining steps, the same for every arm
    batch_size: int = 8
    seq_len: int = 64  # bytes per block
    lr: float = 5e-4  # continued pretraining (all arms, the scratch arm too); 1e-3 makes the base's curve jump
    base_lr: float = 2e-3  # pretraining the base
    eval_every: int = 15  # continued steps between held-out evaluations
    eval_blocks: int = 16  # held-out blocks per evaluation
    seed: int = 0
    arms: tuple[str, ...] = ARMS

    def checked(self) -> "ExperimentConfig":
        layers = check_count(self.layers, what="Base layers", low=2, high=32)
        m = default_m(layers) if self.m is None else self.m
        order = layer_plan(layers, m)
        arms = tuple(self.arms or ())
        bad = [a for a in arms if a not in ARMS]
        if not arms or bad:
            raise InputError(f"Pick the runs from {', '.join(ARMS)}" + (f"; unknown: {', '.join(map(str, bad))}."
                                                                        if bad else "."))
        steps = check_count(self.steps, what="Continued-pretraining steps", low=1, high=5000)
        return dataclasses.replace(
            self, layers=layers, m=layers - len(order) // 2, arms=arms, steps=steps,
            hidden=check_count(self.hidden, what="Width", low=16, high=512),
            heads=check_count(self.heads, what="Heads", low=1, high=16),
            base_steps=check_count(self.base_steps, what="Base pretraining steps", low=1, high=5000),
            batch_size=check_count(self.batch_size, what="Batch size", low=1, high=64),
            seq_len=check_count(self.seq_len, what="Sequence length", low=16, high=512),
            lr=check_number(self.lr, what="Learning rate", low=1e-6, high=0.1),
            base_lr=check_number(self.base_lr, what="Base learning rate", low=1e-6, high=0.1),
            eval_every=check_count(self.eval_every, what="Evaluate every", low=1, high=steps),
            eval_blocks=check_count(self.eval_blocks, what="Evaluation blocks", low=1, high=512),
            seed=check_count(self.seed, what="Seed", low=0, high=2**31 - 1))


@dataclass(frozen=True)
class Curve:
    """One arm's continued pretraining: held-out loss against training tokens and FLOPs (step 0 = untrained)."""

    arm: str
    label: str
    layers: int
    params: int
    eval_steps: list[int]
    eval_tokens: list[int]
    eval_flops: list[float]
    eval_loss: list[float]
    losses: list[float]  # training loss per step
    seconds: float
    stopped: str

    @property
    def eval_ppl(self) -> list[float]:
        return [_ppl(x) for x in self.eval_loss]

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "eval_ppl": self.eval_ppl}


@dataclass(frozen=True)
class Experiment:
    """The experiment so far: the base's pretraining, then one Curve per arm finished or running."""

    config: ExperimentConfig
    plan: Plan
    base: Curve  # pretraining the base from scratch
    curves: tuple[Curve, ...]  # continued pretraining, arms in order
    similarity: Similarity | None  # the trained base's layer similarity on held-out blocks
    source: str
    stage: str  # what is running, or "done" / "stopped: ..."
    seconds: float

    @property
    def done(self) -> bool:
        return self.stage == "done"

    def curve(self, arm: str) -> Curve | None:
        return next((c for c in self.curves if c.arm == arm), None)

    def final(self) -> dict[str, float]:
        """Held-out perplexity at the end of each arm's run."""
        return {c.arm: c.eval_ppl[-1] for c in self.curves if c.eval_loss}

    def to_dict(self) -> dict:
        return {"config": dataclasses.asdict(self.config), "plan": self.plan.to_dict(), "base": self.base.to_dict(),
                "curves": [c.to_dict() for c in self.curves],
                "similarity": self.similarity.to_dict() if self.similarity else None, "source": self.source,
                "stage": self.stage, "seconds": self.seconds, "final_ppl": self.final()}

    def rows(self) -> tuple[list[str], list[list]]:
        """(header, rows): every held-out evaluation of every run, the base's pretraining first."""
        header = ["run", "layers", "params", "step", "tokens", "flops", "heldout_loss", "heldout_ppl"]
        rows = []
        for c in (self.base, *self.curves):
            for s, t, f, loss in zip(c.eval_steps, c.eval_tokens, c.eval_flops, c.eval_loss):
                rows.append([c.label, c.layers, c.params, s, t, f, round(loss, 5), round(_ppl(loss), 4)])
        return header, rows


def _curve(arm: str, label: str, run: Any, lm: Any) -> Curve:
    return Curve(arm=arm, label=label, layers=len(decoder_layers(lm.model)), params=lm.n_params,
                 eval_steps=list(run.eval_steps), eval_tokens=list(run.eval_tokens), eval_flops=list(run.eval_flops),
                 eval_loss=list(run.eval_loss), losses=list(run.losses), seconds=run.seconds, stopped=run.stopped)


def experiment(config: ExperimentConfig | None = None, *, text: str | None = None, deadline: Any = None,
               progress: ProgressFn | None = None) -> Iterator[Experiment]:
    """The note's best experiment, streamed: yields an :class:`Experiment` after every held-out evaluation.

    1. A tiny byte-level base of n layers from scratch (seed), pretrained ``base_steps`` on SOTU (or ``text``).
    2. From it: DUS (m, 2(n - m) layers), the naive 2n stack (m = 0), the base itself, and a fresh model of the
       DUS depth from scratch; each trains ``steps`` more steps at the same learning rate on the same batches in
       the same order (one seed for all), evaluated on the same held-out blocks.
    Stopping early: stop iterating; the last snapshot is the result. ``deadline`` (a Deadline) caps the whole run.
    """
    from backends.decoding import Deadline
    from backends.training import ScratchConfig, scratch_model, text_data, train_iter

    cfg = (config or ExperimentConfig()).checked()
    dl = Deadline.of(deadline)
    t0 = time.perf_counter()
    report = progress or (lambda f, msg: None)
    scfg = ScratchConfig(layers=cfg.layers, hidden=cfg.hidden, heads=cfg.heads, seq_len=cfg.seq_len)
    base0 = scratch_model(scfg, seed=cfg.seed, name=f"base-{cfg.layers}L")
    p = plan(base0, cfg.m)
    tokens_needed = cfg.batch_size * cfg.seq_len * (cfg.base_steps + cfg.steps)
    data = text_data(base0, text, seq_len=cfg.seq_len, max_train_tokens=max(tokens_needed, 200_000),
                     max_heldout_tokens=cfg.eval_blocks * cfg.seq_len)
    total = cfg.base_steps * cfg.layers + cfg.steps * sum(_arm_layers(a, p) for a in cfg.arms)
    done_work = 0.0

    def snap(base_curve, curves, sim, stage):
        return Experiment(config=cfg, plan=p, base=base_curve, curves=tuple(curves), similarity=sim,
                          source=data.source, stage=stage, seconds=time.perf_counter() - t0)

    def stepper(weight, what):
        return lambda f, msg: report(min(0.999, (done_work + f * weight) / total), f"{what}: {msg}")

    # 1. pretrain the base
    label = f"base pretraining ({cfg.layers} layers)"
    run = None
    for run in train_iter(base0, data, steps=cfg.base_steps, batch_size=cfg.batch_size, lr=cfg.base_lr,
                          seed=cfg.seed, eval_every=max(1, cfg.base_steps // 10), eval_blocks=cfg.eval_blocks,
                          deadline=dl, name=label, progress=stepper(cfg.base_steps * cfg.layers, "pretraining")):
        yield snap(_curve("pretrain", label, run, base0), [], None, label)
    base_curve = _curve("pretrain", label, run, base0)
    if run.stopped:
        yield snap(base_curve, [], None, f"stopped: {run.stopped} during the base's pretraining")
        return
    base = run.model
    done_work += cfg.base_steps * cfg.layers
    sim = layer_similarity(base, data.heldout, max_blocks=8)
    curves: list[Curve] = []
    # 2. the arms: same data, same batch order (seed + 1, a pass unlike the pretraining's), same lr
    for arm in cfg.arms:
        if arm == "dus":
            lm = depth_upscale(base, cfg.m)
        elif arm == "naive":
            lm = depth_upscale(base, 0)
        elif arm == "base":
            lm = base
        else:
            fresh = ScratchConfig(layers=p.s, hidden=cfg.hidden, heads=cfg.heads, seq_len=cfg.seq_len)
            lm = scratch_model(fresh, seed=cfg.seed + 1, name=f"scratch-{p.s}L")
        n_layers = len(decoder_layers(lm.model))
        label = _arm_label(arm, n_layers, cfg.m)
        weight = cfg.steps * n_layers
        run = None
        for run in train_iter(lm, data, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed + 1,
                              eval_every=cfg.eval_every, eval_blocks=cfg.eval_blocks, deadline=dl, name=label,
                              progress=stepper(weight, label)):
            yield snap(base_curve, [*curves, _curve(arm, label, run, lm)], sim, label)
        curves.append(_curve(arm, label, run, lm))
        del lm
        done_work += weight
        if run.stopped:
            yield snap(base_curve, curves, sim, f"stopped: {run.stopped} while training {label}")
            return
    report(1.0, "Done")
    yield snap(base_curve, curves, sim, "done")


def _arm_layers(arm: str, p: Plan) -> int:
    return {"dus": p.s, "naive": 2 * p.n, "base": p.n, "scratch": p.s}[arm]


def _arm_label(arm: str, layers: int, m: int) -> str:
    if arm == "dus":
        return f"DUS m={m} ({layers} layers)"
    return f"{ARM_LABELS[arm]} ({layers} layers)"
