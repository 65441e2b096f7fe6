"""BitNet b1.58 (Ma et al. 2024): every linear weight in {-1, 0, +1} times one scale, activations 8-bit.

* :func:`ternarize` swaps each ``nn.Linear`` of a copy of the model for a :class:`BitLinear`
  (``backends/surgery/bitlinear.py`` has the formulas); embeddings and the LM head stay full precision.
* :func:`ternary_stats` reports per layer gamma and the share of zeros/plus/minus in W~.
* :func:`pack_ternary` / :func:`unpack_ternary` store W~ in 2 bits per weight (4 per byte); :func:`storage`
  sets the bytes in fp16, int8, packed ternary and the log2(3) = 1.58-bit bound side by side, with the
  arithmetic per token of the linear layers (multiplies in full precision against additions in ternary).
* :func:`ptq` ternarises a trained packaged model and measures held-out perplexity before and after;
  :func:`twins_iter` trains full-precision and 1.58-bit twins from scratch at a few widths (the paper's
  comparison at toy scale) and ternarises each trained FP twin afterwards as a contrast.

torch is imported inside the functions, so ``import backends.surgery`` stays cheap.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from backends.config import InputError, check_count, check_number
from backends.decoding import Deadline

DEFAULT_MODEL = "smollm2-135m-instruct"
SKIP = ("lm_head",)
BITS_BOUND = math.log2(3)  # information content of one ternary weight, 1.585 bits
# Per-operation arithmetic energy on a 7 nm process (pJ), the estimates BitNet and b1.58 take from Horowitz
# (ISSCC 2014) scaled to 7 nm: an FP16 multiply-add costs 0.34 + 0.16 = 0.50 pJ, an INT8 addition 0.007 pJ,
# whence the paper's "71.4x less matrix-multiply arithmetic energy" (0.50 / 0.007).
ENERGY_PJ = {"fp16_mul": 0.34, "fp16_add": 0.16, "int8_add": 0.007, "int8_mul": 0.07}
PAPER = {
    # held-out perplexity, FP16 LLaMA vs BitNet b1.58 at equal size (100B RedPajama tokens)
    "ppl": {7e8: (12.33, 12.87), 1.3e9: (11.25, 11.29), 3e9: (10.04, 9.91)},
    "ppl_b158_3.9b": 9.62,
    "memory_3b_gb": (7.89, 2.22),  # 3.55x less
    "latency_3b_ms": (5.07, 1.87),  # 2.71x faster
    "energy_ratio_7nm": 71.4,
    "tokens": 100e9,
}
ProgressFn = Callable[[float, str], None]


# ----- ternarisation -----------------------------------------------------------------------------------------


def _unwrap(model: Any) -> tuple[Any, Any]:
    """(LoadedModel or None, the torch module) of a LoadedModel or a transformers model."""
    from backends.models import LoadedModel

    if isinstance(model, LoadedModel):
        return model, model.model
    if hasattr(model, "named_modules"):
        return None, model
    raise InputError(f"Expected a LoadedModel or a transformers model, got {type(model).__name__}.")


def _refuse_int8(lm: Any, module: Any) -> None:
    """int8 models are refused: their weights are packed by PyTorch's dynamic quantisation (no float latent
    weight to ternarise, no backward pass to train); their float copies work."""
    from backends.quantize import quantized_linears

    if (lm is not None and lm.weights == "int8") or quantized_linears(module):
        name = lm.name if lm is not None else "this model"
        hint = ""
        if lm is not None:
            from backends.models import registry

            base = lm.spec.base or lm.name
            if f"{base}@float32" in registry().lm_names():
                hint = f" Use its float copy `{base}@float32`,"
        raise InputError(f"{name} runs in int8 (PyTorch dynamic quantisation): its weights are packed int8 with no "
                         f"float latent weight to ternarise or train.{hint or ' Use'} a float32 model such as "
                         f"{DEFAULT_MODEL}.")


def _skipped(name: str, skip: Sequence[str]) -> bool:
    return name in skip or name.rsplit(".", 1)[-1] in skip


def _check_options(activations: Any, norm: Any, skip: Any) -> tuple[str, ...]:
    """ternarize's switches must be booleans and ``skip`` layer names (a single name is allowed)."""
    for what, value in (("activations", activations), ("norm", norm)):
        if not isinstance(value, bool):
            raise InputError(f"{what} must be True or False, got {value!r:.40}.")
    if isinstance(skip, str):
        skip = (skip,)
    if not isinstance(skip, (list, tuple, set, frozenset)) or not all(isinstance(x, str) for x in skip):
        raise InputError(f"skip must be a list of layer names such as ['lm_head'], got {skip!r:.60}.")
    return tuple(skip)


def ternarize(model: Any, *, activations: bool = True, norm: bool = False, skip: Sequence[str] = SKIP) -> Any:
    """A copy of ``model`` whose ``nn.Linear`` layers are BitLinear: forward with gamma * W~, W~ in {-1, 0, 1}.

    ``model``: a LoadedModel (returns a new, unregistered LoadedModel named ``<name>+b1.58`` with the same
    tokenizer) or a transformers model (returns a new one). The input is deep-copied first and never changed.
    ``activations``: quantise each linear layer's input to 8 bits per token (W1.58A8, the paper's setting);
    False keeps activations in full precision (weights only). ``norm``: the parameter-free RMSNorm inside
    BitLinear, for training from scratch; leave it off when ternarising a trained model (it changes the
    function). ``skip``: layer names (full or last component) left full precision; the head by default, as
    in the paper (embeddings are not linear layers and always stay). The latent weights stay float, so the
    result can be trained (straight-through estimator). int8 models are refused with a message naming a
    float copy.
    """
    import copy

    import torch

    from backends.surgery.bitlinear import BitLinear

    skip = _check_options(activations, norm, skip)
    lm, module = _unwrap(model)
    _refuse_int8(lm, module)
    floats = {p.dtype for p in module.parameters()}
    if any(not d.is_floating_point for d in floats):
        raise InputError(f"ternarize needs a float model; this one has parameters of type {sorted(map(str, floats))}.")
    new = copy.deepcopy(module)
    targets = [(name, m) for name, m in new.named_modules()
               if type(m) is torch.nn.Linear and not _skipped(name, skip)]
    if not targets:
        raise InputError("The model has no linear layers to ternarise (all skipped or none present).")
    for name, m in targets:
        parent_name, _, child = name.rpartition(".")
        parent = new.get_submodule(parent_name) if parent_name else new
        setattr(parent, child, BitLinear.from_linear(m, activations=activations, norm=norm))
    if lm is None:
        return new
    from backends.training import wrap

    suffix = "+b1.58" + ("" if activations else "-w") + ("-norm" if norm else "")
    return wrap(new, lm, suffix=suffix, weights="b1.58" if activations else "ternary")


@dataclass(frozen=True)
class LayerStats:
    """One linear layer's ternary weights W~ (what :func:`ternarize` makes of it)."""

    name: str
    shape: tuple[int, int]  # (out, in)
    gamma: float  # mean |W|, the layer's scale
    zeros: float  # share of W~ equal to 0
    plus: float  # share equal to +1
    minus: float  # share equal to -1
    addsub: int  # additions/subtractions per token of a ternary product (nonzeros per row minus one, summed)

    @property
    def n(self) -> int:
        return self.shape[0] * self.shape[1]


@dataclass(frozen=True)
class TernaryStats:
    """Per-layer and overall statistics of W~ (shares weighted by the layers' sizes)."""

    layers: tuple[LayerStats, ...]
    n_weights: int  # linear weights covered
    zeros: float
    plus: float
    minus: float
    gamma_mean: float  # unweighted mean of the layers' gammas
    other_params: int  # parameters outside the covered linear layers (embeddings, head, norms), full precision

    def rows(self) -> list[dict]:
        return [{"layer": s.name, "out": s.shape[0], "in": s.shape[1], "gamma": s.gamma, "zeros": s.zeros,
                 "plus_one": s.plus, "minus_one": s.minus} for s in self.layers]


def ternary_stats(model: Any, *, skip: Sequence[str] = SKIP) -> TernaryStats:
    """W~ statistics of a ternarised model's BitLinear layers or, for a model not yet ternarised, of what
    its ``nn.Linear`` layers (less ``skip``) would become."""
    import torch

    from backends.surgery.bitlinear import BitLinear, weight_quant

    lm, module = _unwrap(model)
    _refuse_int8(lm, module)
    bit = [(n, m) for n, m in module.named_modules() if isinstance(m, BitLinear)]
    layers = bit or [(n, m) for n, m in module.named_modules()
                     if type(m) is torch.nn.Linear and not _skipped(n, skip)]
    if not layers:
        raise InputError("The model has no linear layers to ternarise.")
    out = []
    with torch.no_grad():
        for name, m in layers:
            w_t, gamma = weight_quant(m.weight.float(), getattr(m, "eps", 1e-5))
            n = w_t.numel()
            nnz_row = (w_t != 0).sum(dim=1)
            out.append(LayerStats(name, tuple(w_t.shape), float(gamma), float((w_t == 0).sum()) / n,
                                  float((w_t > 0).sum()) / n, float((w_t < 0).sum()) / n,
                                  int((nnz_row - 1).clamp(min=0).sum())))
    n_w = sum(s.n for s in out)
    covered = {id(m.weight) for _, m in layers}
    other = sum(p.numel() for p in module.parameters() if id(p) not in covered)
    return TernaryStats(tuple(out), n_w, sum(s.zeros * s.n for s in out) / n_w, sum(s.plus * s.n for s in out) / n_w,
                        sum(s.minus * s.n for s in out) / n_w, float(np.mean([s.gamma for s in out])), other)


# ----- storage ----------------------------------------------------------------------------------------------


def pack_ternary(values: Any) -> np.ndarray:
    """Pack ternary values (any shape, entries in {-1, 0, 1}) into bytes, 2 bits each, 4 per byte.

    Code = value + 1 (0, 1, 2); value i of the flattened array goes to byte i // 4, bits 2*(i % 4) and up
    (the first value in the low bits). The tail is padded with code 1 (a zero). Returns uint8 (ceil(n/4),).
    """
    v = np.asarray(values)
    if v.size and not np.isin(v, (-1, 0, 1)).all():
        raise InputError("pack_ternary takes values in {-1, 0, 1} only.")
    codes = (v.reshape(-1).astype(np.int16) + 1).astype(np.uint8)
    pad = (-codes.size) % 4
    codes = np.concatenate([codes, np.ones(pad, dtype=np.uint8)]).reshape(-1, 4)
    return (codes[:, 0] | (codes[:, 1] << 2) | (codes[:, 2] << 4) | (codes[:, 3] << 6)).astype(np.uint8)


def unpack_ternary(packed: Any, shape: Sequence[int] | int) -> np.ndarray:
    """The inverse of :func:`pack_ternary`: int8 values in {-1, 0, 1} of the given shape."""
    shape = (int(shape),) if np.isscalar(shape) else tuple(int(s) for s in shape)
    n = int(np.prod(shape)) if shape else 1
    p = np.asarray(packed, dtype=np.uint8).reshape(-1)
    if p.size != -(-n // 4):
        raise InputError(f"{p.size} packed bytes do not hold {n} ternary values (need {-(-n // 4)}).")
    codes = np.stack([(p >> s) & 3 for s in (0, 2, 4, 6)], axis=1).reshape(-1)[:n]
    if (codes == 3).any():
        raise InputError("Packed ternary data contains the unused code 3: not produced by pack_ternary.")
    return (codes.astype(np.int8) - 1).reshape(shape)


@dataclass(frozen=True)
class Storage:
    """Bytes of the linear weights in several formats and the arithmetic of one token through them."""

    n_weights: int  # linear weights (ternarised layers)
    n_tensors: int
    other_params: int  # embeddings, head, norms: full precision in every format
    bytes: dict[str, float]  # format -> bytes of the linear weights (scales included where a format has them)
    bits_per_weight: dict[str, float]
    fp_mults: int  # per token, full-precision linear layers: one multiply per weight
    fp_adds: int  # and one addition per weight, less one per output
    ternary_addsub: int  # per token, ternary: one addition/subtraction per nonzero weight, less one per output
    ternary_skipped: int  # zero weights: no operation at all
    ternary_mults: int  # per token: one dequantising multiply per output, one quantising multiply per input
    energy_pj: dict[str, float]  # per token, arithmetic only, 7 nm estimates (ENERGY_PJ)

    @property
    def energy_ratio(self) -> float:
        return self.energy_pj["fp16"] / self.energy_pj["ternary"]

    def rows(self) -> list[dict]:
        return [{"format": k, "bytes": v, "bits_per_weight": self.bits_per_weight[k],
                 "vs_fp16": self.bytes["fp16"] / v} for k, v in self.bytes.items()]


def storage(stats_or_model: Any, *, skip: Sequence[str] = SKIP) -> Storage:
    """Storage and per-token arithmetic of a model's linear layers (from :func:`ternary_stats`)."""
    st = stats_or_model if isinstance(stats_or_model, TernaryStats) else ternary_stats(stats_or_model, skip=skip)
    n, k = st.n_weights, len(st.layers)
    packed = sum(-(-s.n // 4) for s in st.layers) + 4 * k  # 2-bit codes plus one float32 gamma per tensor
    int8 = n + 4 * sum(s.shape[0] for s in st.layers)  # int8 with one float32 scale per output channel
    nbytes = {"fp32": 4.0 * n, "fp16": 2.0 * n, "int8": float(int8), "ternary, 2-bit packed": float(packed),
              "log2(3) bound": n * BITS_BOUND / 8}
    bits = {fmt: 8 * b / n for fmt, b in nbytes.items()}
    outs = sum(s.shape[0] for s in st.layers)
    ins = sum(s.shape[1] for s in st.layers)
    fp_mults, fp_adds = n, n - outs
    addsub = sum(s.addsub for s in st.layers)
    skipped = int(round(sum(s.zeros * s.n for s in st.layers)))
    mults = outs + ins
    e = ENERGY_PJ
    energy = {"fp16": fp_mults * e["fp16_mul"] + fp_adds * e["fp16_add"],
              "ternary": addsub * e["int8_add"] + mults * e["fp16_mul"],
              "ternary, paper's count": n * e["int8_add"]}
    return Storage(n, k, st.other_params, nbytes, bits, fp_mults, fp_adds, addsub, skipped, mults, energy)


# ----- experiment a: post-training ternarisation of a trained model -----------------------------------------


@dataclass(frozen=True)
class PTQRow:
    variant: str
    loss: float  # held-out mean NLL, nats per token
    ppl: float


@dataclass(frozen=True)
class PTQResult:
    """Held-out perplexity of a trained model before and after ternarisation (no retraining)."""

    model: str
    rows: tuple[PTQRow, ...]  # original, ternary weights only, ternary weights + 8-bit activations
    stats: TernaryStats
    storage: Storage
    source: str  # the held-out text
    tokens: int  # held-out tokens scored per variant
    seconds: float
    complete: bool  # False when the time budget stopped it before every variant was scored

    def to_dict(self) -> dict:
        return {"model": self.model, "rows": [dataclasses.asdict(r) for r in self.rows], "source": self.source,
                "tokens": self.tokens, "seconds": self.seconds, "complete": self.complete,
                "zeros": self.stats.zeros, "gamma_mean": self.stats.gamma_mean, "layers": self.stats.rows(),
                "storage_bytes": self.storage.bytes}


def ptq(model: Any = None, *, text: str | None = None, max_blocks: int = 16, seq_len: int = 128,
        deadline: Deadline | float | None = None, progress: ProgressFn | None = None) -> PTQResult:
    """Ternarise a trained model after the fact and score it on held-out text (SOTU addresses by default).

    Three variants, each scored on the same ``max_blocks`` blocks of ``seq_len`` tokens: the original, ternary
    weights with full-precision activations, and ternary weights with 8-bit activations (b1.58's W1.58A8).
    ``model``: a LoadedModel, a registry name or slot, or None for smollm2-135m-instruct.
    """
    from backends.models import loaded
    from backends.training import heldout_loss, text_data

    t0 = time.monotonic()
    report = progress or (lambda f, msg: None)
    deadline = Deadline.of(deadline)
    max_blocks = check_count(max_blocks, what="Held-out blocks", low=1, high=256)
    seq_len = check_count(seq_len, what="Block length", low=8, high=2048)
    report(0.0, "Loading the model")
    lm = loaded(model or DEFAULT_MODEL, "chat")
    _refuse_int8(lm, lm.model)
    # Only held-out blocks are scored: tokenise just enough text for them (the training split is left tiny).
    data = text_data(lm, text, seq_len=seq_len, max_train_tokens=2 * seq_len, max_heldout_tokens=max_blocks * seq_len)
    n_blocks = min(max_blocks, len(data.heldout))
    rows = []
    stats = ternary_stats(lm)
    variants = (("original", None), ("ternary weights (fp activations)", False),
                ("ternary weights + 8-bit activations (W1.58A8)", True))
    from backends.surgery.bitlinear import BitLinear

    q = None
    for i, (label, act) in enumerate(variants):
        if deadline.expired:
            break
        report(i / len(variants), f"Scoring {label}")
        if act is not None:
            q = q or ternarize(lm, activations=False)  # one copy serves both: switch its activations on after
            for m in q.model.modules():
                if isinstance(m, BitLinear):
                    m.activations = act
        loss = heldout_loss(lm if act is None else q, data, max_blocks=n_blocks)
        rows.append(PTQRow(label, float(loss), float(math.exp(min(loss, 700.0)))))
    report(1.0, "Done")
    return PTQResult(lm.name, tuple(rows), stats, storage(stats), data.source, n_blocks * seq_len,
                     time.monotonic() - t0, len(rows) == len(variants))


# ----- experiment b: full-precision and 1.58-bit twins trained from scratch ---------------------------------


@dataclass(frozen=True)
class TwinRun:
    """One model trained from scratch: its curves and final held-out numbers."""

    width: int
    kind: str  # "fp" or "b1.58"
    params: int  # non-embedding parameters (the size on the paper's axis)
    steps: tuple[int, ...]  # 1..n
    losses: tuple[float, ...]  # training loss per step (nats/token)
    eval_steps: tuple[int, ...]
    eval_loss: tuple[float, ...]  # held-out mean NLL at each eval step
    seconds: float
    done: bool  # trained to the end
    zeros: float = float("nan")  # b1.58: share of zeros in W~ after training

    @property
    def final_ppl(self) -> float:
        return math.exp(self.eval_loss[-1]) if self.eval_loss else float("nan")


@dataclass(frozen=True)
class WidthResult:
    """Both twins of one width and the contrast: the trained FP twin ternarised after the fact."""

    width: int
    params: int
    fp_ppl: float
    b158_ppl: float
    posthoc_ppl: float  # the trained FP twin, ternarised (W1.58A8) without retraining

    @property
    def gap(self) -> float:
        """b1.58 perplexity over FP perplexity (1 = no gap; the paper: 1.044 at 700M, 0.987 at 3B)."""
        return self.b158_ppl / self.fp_ppl

    @property
    def posthoc_gap(self) -> float:
        return self.posthoc_ppl / self.fp_ppl


@dataclass(frozen=True)
class TwinsResult:
    """The state of a twins experiment: every run so far (the last may be in progress) and finished widths."""

    config: dict  # widths, layers, heads, seq_len, steps, batch_size, lr, seed, eval_blocks
    runs: tuple[TwinRun, ...]
    widths_done: tuple[WidthResult, ...]
    completed_steps: int
    total_steps: int
    source: str
    stopped: str  # "" or why it stopped early
    seconds: float

    @property
    def done(self) -> bool:
        return len(self.widths_done) == len(self.config["widths"])

    def to_dict(self) -> dict:
        return {"config": self.config, "source": self.source, "stopped": self.stopped, "seconds": self.seconds,
                "widths": [dict(dataclasses.asdict(w), gap=w.gap, posthoc_gap=w.posthoc_gap)
                           for w in self.widths_done],
                "runs": [dict(width=r.width, kind=r.kind, params=r.params, final_ppl=r.final_ppl, seconds=r.seconds,
                              done=r.done, zeros=None if math.isnan(r.zeros) else r.zeros,
                              eval_steps=list(r.eval_steps), eval_loss=list(r.eval_loss)) for r in self.runs],
                "paper_gap": {f"{int(k / 1e6)}M": b / f for k, (f, b) in PAPER["ppl"].items()}}

    def curve_rows(self) -> list[dict]:
        """One row per run and step: training loss, and held-out loss where evaluated."""
        rows = []
        for r in self.runs:
            ev = dict(zip(r.eval_steps, r.eval_loss))
            rows += [{"width": r.width, "kind": r.kind, "params": r.params, "step": s, "train_loss": loss,
                      "heldout_loss": ev.get(s)} for s, loss in zip(r.steps, r.losses)]
        return rows


@dataclass(frozen=True)
class TwinsConfig:
    """The defaults of the twins experiment, sized for a few minutes on two CPU cores."""

    widths: tuple[int, ...] = (32, 64, 128)  # hidden sizes, one pair of twins each
    layers: int = 4
    heads: int = 4
    seq_len: int = 128
    steps: int = 300
    batch_size: int = 8
    lr: float | None = None  # the same for both twins; None: the trainer's rate for scratch models (2e-3)
    lr_ternary: float | None = None  # the b1.58 twin's rate if different (the paper trains b1.58 at a higher one)
    seed: int = 0
    eval_blocks: int = 32  # held-out blocks per evaluation
    evals: int = 6  # held-out evaluations per run


def check_widths(widths: Any, heads: int = 4) -> tuple[int, ...]:
    """Validate a list of hidden sizes (each a multiple of ``heads``, 8..512, at most four)."""
    if isinstance(widths, str):
        widths = [w for w in widths.replace(",", " ").split() if w]
    try:
        ws = sorted({int(w) for w in widths})
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"Widths must be whole numbers, got {widths!r:.80}.") from None
    if not 1 <= len(ws) <= 4:
        raise InputError(f"Pick one to four widths, got {len(ws)}.")
    for w in ws:
        if not 8 <= w <= 512 or w % (2 * heads):
            raise InputError(f"Width {w} must be between 8 and 512 and a multiple of {2 * heads} "
                             f"({heads} heads of even size, for rotary embeddings).")
    return tuple(ws)


def _non_embedding(module: Any) -> int:
    emb = module.get_input_embeddings().weight
    head = module.get_output_embeddings()
    seen = {id(emb)} | ({id(head.weight)} if head is not None else set())
    return sum(p.numel() for p in module.parameters() if id(p) not in seen)


def twins_iter(widths: Sequence[int] | None = None, *, steps: int | None = None, seed: int = 0,
               text: str | None = None, config: TwinsConfig | None = None,
               deadline: Deadline | float | None = None) -> Iterator[TwinsResult]:
    """Train an FP and a 1.58-bit twin at each width on the same tokens with the same seed; yield the state
    after every held-out evaluation (stop iterating to stop: the last state is the result).

    Twins share everything but the linear layers: ``scratch_model`` at the width, then for the 1.58-bit twin
    :func:`ternarize` with ``norm=True`` (BitLinear's own RMSNorm, W1.58A8) before training. The same
    optimiser, learning rate, schedule, batches and initial latent weights. After the FP twin is trained it
    is also ternarised after the fact (no retraining) and scored: the contrast that motivates training
    quantised.
    """
    from backends.training import ScratchConfig, heldout_loss, scratch_model, text_data, train_iter

    cfg = config or TwinsConfig()
    widths = check_widths(cfg.widths if widths is None else widths, cfg.heads)
    steps = check_count(cfg.steps if steps is None else steps, what="Steps", low=10, high=5000)
    seed = int(check_number(seed, what="Seed", low=0, high=2**31 - 1))
    cfg = dataclasses.replace(cfg, widths=widths, steps=steps, seed=seed)
    deadline = Deadline.of(deadline)
    t0 = time.monotonic()
    eval_every = max(1, steps // cfg.evals)
    runs: list[TwinRun] = []
    done: list[WidthResult] = []
    total = 2 * steps * len(widths)
    data = None
    stopped = ""

    def state(live: list[TwinRun], completed: int) -> TwinsResult:
        return TwinsResult(dataclasses.asdict(cfg), tuple(runs + live), tuple(done), completed, total,
                           data.source if data is not None else "", stopped, time.monotonic() - t0)

    for width in widths:
        sc = ScratchConfig(layers=cfg.layers, hidden=width, heads=cfg.heads, seq_len=cfg.seq_len)
        fp = scratch_model(sc, seed=seed, name=f"scratch-{width}")
        if data is None:
            data = text_data(fp, text, seq_len=cfg.seq_len)
        params = _non_embedding(fp.model)
        finals = {}
        for kind in ("fp", "b1.58"):
            model = fp if kind == "fp" else ternarize(fp, norm=True)
            t_run = time.monotonic()
            last = None
            lr = cfg.lr_ternary if kind == "b1.58" and cfg.lr_ternary else cfg.lr
            for snap in train_iter(model, data, steps=steps, batch_size=cfg.batch_size, lr=lr, seed=seed,
                                   eval_every=eval_every, eval_blocks=cfg.eval_blocks, deadline=deadline):
                last = snap
                live = _twin_run(width, kind, params, snap, time.monotonic() - t_run, steps)
                yield state([live], 2 * steps * widths.index(width) + (steps if kind == "b1.58" else 0)
                            + len(snap.steps))
            if last is None or len(last.steps) < steps or last.stopped:
                stopped = (last.stopped if last is not None and last.stopped else "") or "time budget"
                if last is not None:
                    runs.append(_twin_run(width, kind, params, last, time.monotonic() - t_run, steps))
                yield state([], sum(r.steps[-1] if r.steps else 0 for r in runs))
                return
            run = _twin_run(width, kind, params, last, time.monotonic() - t_run, steps)
            if kind == "b1.58":
                run = dataclasses.replace(run, zeros=ternary_stats(last.model).zeros)
            runs.append(run)
            finals[kind] = last
        post = ternarize(finals["fp"].model, norm=False)
        posthoc = math.exp(heldout_loss(post, data, max_blocks=cfg.eval_blocks))
        done.append(WidthResult(width, params, runs[-2].final_ppl, runs[-1].final_ppl, posthoc))
        yield state([], 2 * steps * (widths.index(width) + 1))


def _twin_run(width: int, kind: str, params: int, snap: Any, seconds: float, planned: int) -> TwinRun:
    n = len(snap.losses)
    return TwinRun(width, kind, params, tuple(int(s) for s in snap.steps), tuple(float(x) for x in snap.losses),
                   tuple(int(s) for s in snap.eval_steps), tuple(float(x) for x in snap.eval_loss), seconds,
                   n >= planned and not snap.stopped)


def twins(widths: Sequence[int] | None = None, **kwargs: Any) -> TwinsResult:
    """:func:`twins_iter` run to the end: the final state."""
    import collections

    return collections.deque(twins_iter(widths, **kwargs), maxlen=1)[0]


__all__ = ["ternarize", "ternary_stats", "pack_ternary", "unpack_ternary", "storage", "ptq", "twins", "twins_iter",
           "TernaryStats", "LayerStats", "Storage", "PTQResult", "PTQRow", "TwinsResult", "TwinRun", "WidthResult",
           "TwinsConfig", "check_widths", "BITS_BOUND", "ENERGY_PJ", "PAPER", "DEFAULT_MODEL"]
