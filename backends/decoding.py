"""The one decoding toolkit every method uses: padding, chat prompts, deadlines, KV-cache decoding, embeddings.

Methods differ in what they do with a model's distributions (rank paths, mix passages, verify drafts),
not in how they pad a batch or step a cache. Those shared steps live here, once:

- :func:`pad_batch`: token-id rows into (ids, mask, positions), padded left (for decoding) or right
  (for scoring).
- :func:`chat_text` / :func:`chat_ids`: a system and user turn in the tokenizer's chat template, or a
  plain transcript for base models.
- :class:`Deadline`: a request's time budget; ``Deadline(None)`` never expires (the Python API's default).
- :func:`prefill` / :func:`step`: run left-padded prompts once into a KV cache, then feed one token per row.
- :func:`decode`: batched greedy or sampled decoding with one KV cache, per-row stop rules, and finished
  rows leaving the batch (and its cache) at once.
- :class:`PrefixCache`: reuse the KV cache of the longest prefix shared with the previous call.
- :func:`embed`: unit-normalised sentence embeddings from an embedder, in chunks, with progress.

Functions take a loaded model (:class:`backends.models.LoadedModel`); none reaches for the registry.
"""
from __future__ import annotations

import contextlib
import copy
import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from backends.config import InputError

if TYPE_CHECKING:
    import torch

    from backends.models import LoadedModel

ProgressFn = Callable[[float, str], None]
StopRule = Callable[[list[int]], bool]

# End-of-turn markers of the chat templates we ship or support, besides the tokenizer's own EOS.
TURN_END_TOKENS = ("<|im_end|>", "<|endoftext|>", "<end_of_turn>", "<|eot_id|>")


class TimeBudgetError(InputError):
    """A request ran past its time budget and stopped itself."""


_uncounted = threading.local()


def _uncounted_box() -> list[float]:
    """This thread's seconds spent in not_counted() blocks, in all (a one-item list that its Deadlines hold on to,
    so that a Deadline read from another thread still counts its own thread's loads)."""
    box = getattr(_uncounted, "box", None)
    if box is None:
        box = _uncounted.box = [0.0]
    return box


@contextlib.contextmanager
def not_counted() -> Iterator[None]:
    """Time spent in the block (a model's load or conversion, or waiting for another request's) does not count
    against any :class:`Deadline` made in this thread: a request's budget is for its own work, and the first use
    of a model on a fresh machine can take minutes."""
    t0 = time.monotonic()
    try:
        yield
    finally:
        _uncounted_box()[0] += time.monotonic() - t0


class Deadline:
    """A wall-clock budget for one request, checked between units of work.

    ``Deadline(None)`` (or ``Deadline.none()``) never expires: library calls run to the end unless the
    caller passes a budget. The app passes ``limits().time_budget_s`` where it serves requests. Time the
    request's thread spends loading models (:func:`not_counted`) extends the budget by as much.
    """

    __slots__ = ("seconds", "_at", "_box", "_uncounted0")

    def __init__(self, seconds: float | None):
        if seconds is not None:
            try:
                seconds = float(seconds)
            except (TypeError, ValueError):
                seconds = math.nan
            if math.isnan(seconds):  # a negative budget is one already spent
                raise InputError("A time budget must be a number of seconds (or none for no limit).")
        self.seconds = seconds
        self._at = math.inf if seconds is None else time.monotonic() + seconds
        self._box = _uncounted_box()
        self._uncounted0 = self._box[0]

    @classmethod
    def none(cls) -> "Deadline":
        return cls(None)

    @classmethod
    def of(cls, value: "Deadline | float | None") -> "Deadline":
        """A Deadline from a Deadline, None (no budget), or a ``time.monotonic()`` value to stop at (how
        ``deadline=`` arguments have always been given)."""
        if isinstance(value, Deadline):
            return value
        d = cls(None)
        if value is not None:
            d._at = float(value)
            d.seconds = d._at - time.monotonic()
        return d

    @property
    def at(self) -> float:
        """The ``time.monotonic()`` value at which the budget is spent, model loads since its start added."""
        return self._at + (self._box[0] - self._uncounted0)

    @property
    def expired(self) -> bool:
        return time.monotonic() > self.at

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def check(self, what: str = "The request ran past its time budget; ask for less.") -> None:
        """Raise :class:`TimeBudgetError` with message ``what`` once the budget is spent."""
        if time.monotonic() > self.at:
            raise TimeBudgetError(what)

    def __repr__(self) -> str:
        return f"Deadline({self.seconds})"


# ----- padding and prompts --------------------------------------------------------------------------


def pad_id(tok: Any) -> int:
    """The id padding positions get: the pad token, else EOS, else 0 (they are masked either way)."""
    for i in (tok.pad_token_id, tok.eos_token_id):
        if i is not None:
            return int(i)
    return 0


@dataclass(frozen=True)
class Padded:
    """Rows of token ids padded to one width."""

    ids: "torch.Tensor"  # (B, L) long
    mask: "torch.Tensor"  # (B, L) long, 1 on real tokens
    positions: "torch.Tensor"  # (B, L) long: each real token's position in its own row; 0 on padding
    lengths: list[int]  # (B,) real tokens per row
    side: str  # "left" or "right"


def pad_batch(rows: Sequence[Sequence[int]], pad: int, side: str = "left") -> Padded:
    """Pad token-id rows to the longest. Left padding lines up the rows' ends (for decoding); right
    padding lines up their starts (for scoring). Positions count real tokens only, so a row's result
    does not depend on how much padding it got."""
    import torch

    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    if not rows:
        raise ValueError("pad_batch needs at least one row")
    lengths = [len(r) for r in rows]
    width = max(lengths)
    ids = torch.full((len(rows), width), int(pad), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if not lengths[i]:
            continue
        sl = slice(width - lengths[i], width) if side == "left" else slice(0, lengths[i])
        ids[i, sl] = torch.as_tensor(list(r), dtype=torch.long)
        mask[i, sl] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0) * mask
    return Padded(ids, mask, positions, lengths, side)


def has_chat_template(lm: "LoadedModel") -> bool:
    return bool(getattr(lm.tokenizer, "chat_template", None))


def chat_text(lm: "LoadedModel", user: str, *, system: str | None = None, prefill: str = "",
              chat: bool | None = None, plain_suffix: str = "\n\nAnswer: ") -> str:
    """One user turn (after an optional system turn) as the text the model sees, ending where the
    assistant's reply starts, followed by ``prefill``.

    ``chat=None`` uses the chat template when the tokenizer has one and a plain transcript otherwise
    (system, user, then ``plain_suffix``); ``chat=True`` requires a template; ``chat=False`` never uses one.
    """
    use = has_chat_template(lm) if chat is None else chat
    if use:
        if not has_chat_template(lm):
            raise InputError(f"Model {lm.name} has no chat template; use it as a plain text model.")
        conv = ([{"role": "system", "content": system}] if system is not None else [])
        conv.append({"role": "user", "content": user})
        return lm.tokenizer.apply_chat_template(conv, tokenize=False, add_generation_prompt=True) + prefill
    head = f"{system}\n\n" if system is not None else ""
    return f"{head}{user}{plain_suffix}{prefill}"


def chat_ids(lm: "LoadedModel", user: str, *, system: str | None = None, prefill: str = "",
             chat: bool | None = None, plain_suffix: str = "\n\nAnswer: ") -> list[int]:
    """Token ids of :func:`chat_text`. The template's text already holds its special tokens, so none are
    added; a plain transcript gets the tokenizer's usual ones (BOS, where it has one)."""
    text = chat_text(lm, user, system=system, prefill=prefill, chat=chat, plain_suffix=plain_suffix)
    templated = has_chat_template(lm) if chat is None else chat
    return list(lm.tokenizer(text, add_special_tokens=not templated)["input_ids"])


def stop_token_ids(lm: "LoadedModel") -> set[int]:
    """EOS and the end-of-turn tokens the tokenizer knows: decoding a reply ends at any of them."""
    tok = lm.tokenizer
    ids = {int(tok.eos_token_id)} if tok.eos_token_id is not None else set()
    vocab = tok.get_vocab() if hasattr(tok, "get_vocab") else {}
    for t in TURN_END_TOKENS:
        if t in vocab:
            ids.add(int(vocab[t]))
    return ids


# ----- KV-cache decoding ----------------------------------------------------------------------------


@dataclass
class Prefill:
    """Prompts run once, left-padded, as one batch: what every decoder starts from.

    The cache belongs to this object: :meth:`fork` hands a decoder its own copy, so one prefill can
    start several decoders (RAG's modes share one).
    """

    cache: Any  # KV cache after the prompts (B rows)
    mask: "torch.Tensor"  # (B, L) attention mask on CPU, 0 on the left padding
    next_pos: "torch.Tensor"  # (B,) position id of each row's next token
    logits: "torch.Tensor"  # (B, V) float32 on CPU: the distribution of each row's next token

    @property
    def rows(self) -> int:
        return int(self.mask.shape[0])

    def logp(self) -> "torch.Tensor":
        import torch

        return torch.log_softmax(self.logits, dim=-1)

    def fork(self, rows: Sequence[int] | None = None, repeat: int = 1) -> "Prefill":
        """An independent copy (optionally of some rows, each repeated ``repeat`` times in a row)."""
        import torch

        cache = copy.deepcopy(self.cache)
        mask, pos, logits = self.mask, self.next_pos, self.logits
        if rows is not None:
            index = torch.as_tensor(list(rows), dtype=torch.long)
            cache.batch_select_indices(index.to(_cache_device(cache)))
            mask, pos, logits = mask[index], pos[index], logits[index]
        if repeat > 1:
            cache.batch_repeat_interleave(repeat)
            mask, pos = mask.repeat_interleave(repeat, 0), pos.repeat_interleave(repeat, 0)
            logits = logits.repeat_interleave(repeat, 0)
        return Prefill(cache, mask.clone(), pos.clone(), logits)


def _cache_device(cache: Any) -> Any:
    try:
        return cache.layers[0].keys.device
    except (AttributeError, IndexError):
        return "cpu"


def prefill(lm: "LoadedModel", prompts: Sequence[Sequence[int]]) -> Prefill:
    """Run prompts of any lengths once (left-padded, one batch) and keep their KV cache."""
    import torch

    p = pad_batch(prompts, pad_id(lm.tokenizer), "left")
    dev = lm.device
    with torch.inference_mode():
        out = lm.model(input_ids=p.ids.to(dev), attention_mask=p.mask.to(dev), position_ids=p.positions.to(dev),
                       use_cache=True, logits_to_keep=1)
    return Prefill(out.past_key_values, p.mask, p.mask.sum(-1), out.logits[:, -1].float().cpu())


def step(lm: "LoadedModel", state: Prefill, tokens: "torch.Tensor") -> None:
    """Feed one token per row (``tokens``: (B,) long) and advance ``state`` in place."""
    import torch

    dev = lm.device
    state.mask = torch.cat([state.mask, torch.ones((state.mask.shape[0], 1), dtype=state.mask.dtype)], dim=1)
    with torch.inference_mode():
        out = lm.model(input_ids=tokens[:, None].to(dev), attention_mask=state.mask.to(dev),
                       position_ids=state.next_pos[:, None].to(dev), past_key_values=state.cache, use_cache=True)
    state.next_pos = state.next_pos + 1
    state.logits = out.logits[:, -1].float().cpu()


def keep_rows(state: Prefill, keep: Sequence[int]) -> None:
    """Drop every row of ``state`` but ``keep`` (indices into its current rows), cache included."""
    import torch

    index = torch.as_tensor(list(keep), dtype=torch.long)
    state.cache.batch_select_indices(index.to(_cache_device(state.cache)))
    state.mask, state.next_pos, state.logits = state.mask[index], state.next_pos[index], state.logits[index]


@dataclass(frozen=True)
class Decoded:
    """What :func:`decode` produced, per input row."""

    ids: list[list[int]]  # new token ids (a stop-rule token included, a stop id excluded)
    gaps: list[list[float]]  # per new token: p(top-1) - p(top-2) of the distribution it came from
    logprobs: list[list[float]]  # per new token: its log-probability under that distribution (temperature 1)
    finished: list[bool]  # the row stopped (stop id or stop rule) rather than running out of tokens
    seconds: float


def decode(lm: "LoadedModel", prompts: Sequence[Sequence[int]] | Prefill, max_new_tokens: int, *,
           sample: bool = False, temperature: float = 1.0, top_p: float = 1.0,
           generator: "torch.Generator | None" = None, stop: StopRule | None = None,
           stop_ids: set[int] | None = None, deadline: Deadline | float | None = None) -> Decoded:
    """Decode a continuation of every row as one batch with one KV cache.

    ``prompts`` are token-id rows of any lengths (left-padded here), or a :class:`Prefill` to start from
    (it is forked, not consumed). Greedy unless ``sample``; sampling draws from ``generator`` at
    ``temperature`` within nucleus ``top_p``, so a seeded generator reproduces a run. A row finishes
    when it produces one of ``stop_ids`` (default: :func:`stop_token_ids`; the token is not kept) or when
    ``stop(row_ids)`` turns true after a token (that token is kept). Finished rows leave the batch and
    its cache at once, so the batch never pays for them. ``deadline`` (a :class:`Deadline` or a
    ``time.monotonic()`` value) is checked before every step.
    """
    import torch

    t0 = time.perf_counter()
    dl = Deadline.of(deadline)
    state = prompts.fork() if isinstance(prompts, Prefill) else prefill(lm, prompts)
    rows = state.rows
    stops = stop_token_ids(lm) if stop_ids is None else set(stop_ids)
    seqs: list[list[int]] = [[] for _ in range(rows)]
    gaps: list[list[float]] = [[] for _ in range(rows)]
    lps: list[list[float]] = [[] for _ in range(rows)]
    finished = [False] * rows
    active = list(range(rows))
    for n in range(max(0, max_new_tokens)):
        logp = torch.log_softmax(state.logits, dim=-1)
        top2 = logp.topk(2, dim=-1).values.exp()
        if sample:
            nxt = _sample(state.logits, temperature, top_p, generator)
        else:
            nxt = logp.argmax(-1)
        chosen = logp.gather(-1, nxt[:, None])[:, 0].tolist()
        gap = (top2[:, 0] - top2[:, 1]).tolist()
        keep = []
        for j, row in enumerate(active):
            t = int(nxt[j])
            if t in stops:
                finished[row] = True
                continue
            seqs[row].append(t)
            gaps[row].append(gap[j])
            lps[row].append(chosen[j])
            if stop is not None and stop(seqs[row]):
                finished[row] = True
            else:
                keep.append(j)
        if not keep or n == max_new_tokens - 1:
            break
        dl.check("Decoding ran past the request's time budget; lower the token limit.")
        if len(keep) < len(active):
            keep_rows(state, keep)
            nxt = nxt[torch.as_tensor(keep, dtype=torch.long)]
            active = [active[j] for j in keep]
        step(lm, state, nxt)
    return Decoded(seqs, gaps, lps, finished, time.perf_counter() - t0)


def _sample(logits: "torch.Tensor", temperature: float, top_p: float, generator: "torch.Generator | None"):
    import torch

    probs = torch.softmax(logits / max(float(temperature), 1e-6), dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        cut = sorted_p.cumsum(-1) - sorted_p > top_p  # tokens past the nucleus
        sorted_p = sorted_p.masked_fill(cut, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


def common_prefix(rows: Sequence[Sequence[int]], limit: int | None = None) -> int:
    """Length of the longest prefix every row starts with, at most ``limit`` tokens."""
    n, end = 0, min(len(r) for r in rows)
    if limit is not None:
        end = min(end, limit)
    while n < end and all(r[n] == rows[0][n] for r in rows):
        n += 1
    return n


class PrefixCache:
    """One conversation's KV cache, kept across calls: each call runs only the tokens after the longest
    prefix it shares with the previous call's ids (bandit rounds re-send a growing transcript)."""

    def __init__(self, lm: "LoadedModel", reuse: bool = True):
        self.lm, self.reuse = lm, reuse
        self.ids: list[int] = []
        self.cache: Any = None
        self.tokens_run = 0  # tokens that went through the model (for benchmarks)

    def next_logits(self, ids: Sequence[int]) -> "torch.Tensor":
        """Float32 logits (V,) of the token after ``ids``."""
        import torch

        ids = list(ids)
        common = 0
        if self.reuse and self.cache is not None:
            common = common_prefix([ids, self.ids], limit=len(ids) - 1)  # always run at least the last token
        if common == 0:
            self.cache = None
        else:
            drop = self.cache.get_seq_length() - common
            if drop > 0:
                self.cache.crop(-drop)
        new = torch.tensor([ids[common:]], dtype=torch.long, device=self.lm.device)
        with torch.inference_mode():
            out = self.lm.model(input_ids=new, past_key_values=self.cache, use_cache=self.reuse, logits_to_keep=1)
        self.cache = out.past_key_values if self.reuse else None
        self.ids = ids
        self.tokens_run += len(ids) - common
        return out.logits[0, -1].float().cpu()


# ----- embeddings -----------------------------------------------------------------------------------


def embedding_dim(emb: "LoadedModel") -> int:
    """Width of an embedder's vectors, asked of the model (never assumed)."""
    model = emb.model
    get = getattr(model, "get_sentence_embedding_dimension", None) or getattr(model, "get_embedding_dimension", None)
    dim = get() if get else None
    if not dim:
        dim = int(model.encode(["x"], convert_to_numpy=True).shape[-1])
    return int(dim)


def embed(emb: "LoadedModel", texts: Sequence[str], *, normalize: bool = True, batch_size: int = 64,
          chunk: int = 512, progress: ProgressFn | None = None, deadline: Deadline | float | None = None,
          what: str = "texts") -> np.ndarray:
    """Float32 embeddings (N, dim) of ``texts`` from a sentence-transformers embedder, unit-normalised
    unless ``normalize`` is false (the cosine sandbox studies the raw vectors).

    Work goes in chunks of ``chunk`` texts: progress is reported and the deadline (a :class:`Deadline` or a
    ``time.monotonic()`` value) checked between them. ``what`` names the texts in those messages
    ("passages", "segments").
    """
    dl = Deadline.of(deadline)
    texts = list(texts)
    if not texts:
        return np.zeros((0, embedding_dim(emb)), dtype=np.float32)
    parts = []
    for start in range(0, len(texts), chunk):
        dl.check(f"Embedding stopped after {start:,} of {len(texts):,} {what}: the request ran past its time "
                 "budget. Send fewer.")
        part = emb.model.encode(texts[start:start + chunk], batch_size=batch_size, convert_to_numpy=True,
                                normalize_embeddings=False, show_progress_bar=False)
        parts.append(np.asarray(part, dtype=np.float32))
        if progress:
            done = min(len(texts), start + chunk)
            progress(done / len(texts), f"Embedded {done:,}/{len(texts):,} {what}")
    out = np.concatenate(parts, axis=0)
    return normalise(out) if normalize else out


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
