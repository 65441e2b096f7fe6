"""Shared scoring layer: batched forward passes over a registry model, per-token statistics.

Every tab that scores text goes through here instead of writing its own forward pass:
:func:`score` returns per-token log-probabilities, entropies and top-k alternatives;
:func:`score_continuations` scores a target text given a prefix (GPTScore, EWoK, ASPIRE);
:func:`forward_logits` yields raw logits for methods that need whole distributions (Binoculars'
cross-perplexity, logit lens); :func:`generate` runs greedy or sampled decoding with a seed. Padding,
chat prompts, deadlines and the decoding loop itself come from :mod:`backends.decoding`.

Batching sorts texts by length, pads on the right and masks the padding, so a text's scores do not
depend on what else is in its batch (the unit tests check this). Batches are sized so that the
float32 logits of one batch stay under :data:`LOGITS_BUDGET` elements, which matters for large
vocabularies (Gemma 3: 262k entries, 1 MiB of logits per token).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np

from backends.config import InputError
from backends.decoding import Deadline, TimeBudgetError, chat_ids, decode, pad_batch, pad_id

if TYPE_CHECKING:
    import torch

    from backends.models import LoadedModel

LOGITS_BUDGET = 2**28  # float32 logit elements per batch (1 GiB)
ProgressFn = Callable[[float, str], None]

__all__ = ["TimeBudgetError", "TokenScores", "Batch", "Generation", "Continuation", "encode", "vocab_size",
           "plan_batches", "forward_logits", "score", "generate", "greedy_continue", "continuation_ids",
           "score_continuations", "scoring_batch_size"]


@dataclass(frozen=True)
class TokenScores:
    """Per-token statistics of one text under one model.

    Position t of the arrays describes token t+1 of ``token_ids``: the model's prediction for it
    from the tokens before it. The first token (often BOS) has no prediction and is not scored.
    Units are nats.
    """

    text: str
    token_ids: list[int]  # (T,) ids of the text as scored (after truncation)
    tokens: list[str]  # (T,) each id decoded on its own, for display
    logprobs: np.ndarray  # (T-1,) log p(x_t | x_<t)
    entropies: np.ndarray  # (T-1,) entropy of the predictive distribution at x_t's position
    topk_ids: np.ndarray  # (T-1, k) the k most likely ids at each position
    topk_logprobs: np.ndarray  # (T-1, k) their log-probabilities
    topk_tokens: list[list[str]]  # (T-1, k) decoded
    truncated: bool  # the text was longer than max_tokens and was cut

    @property
    def n_scored(self) -> int:
        return int(self.logprobs.shape[0])

    @property
    def mean_nll(self) -> float:
        """Average negative log-likelihood per scored token (log-perplexity), nats."""
        return float(-self.logprobs.mean()) if self.n_scored else float("nan")

    @property
    def perplexity(self) -> float:
        return float(np.exp(self.mean_nll))


@dataclass(frozen=True)
class Batch:
    """One padded batch from :func:`forward_logits`."""

    indices: list[int]  # positions of these texts in the caller's list
    logits: "torch.Tensor"  # (B, T, V) float32 on CPU
    input_ids: "torch.Tensor"  # (B, T) right-padded
    attention_mask: "torch.Tensor"  # (B, T) 1 for real tokens
    truncated: list[bool]  # (B,)


@dataclass(frozen=True)
class Generation:
    prompt: str
    text: str  # the continuation only, decoded
    token_ids: list[int]  # new tokens
    seconds: float

    @property
    def tokens_per_s(self) -> float:
        return len(self.token_ids) / self.seconds if self.seconds > 0 else float("nan")


def encode(lm: "LoadedModel", texts: Sequence[str], max_tokens: int) -> tuple[list[list[int]], list[bool]]:
    """Token ids of each text (special tokens as the tokenizer adds them), cut to max_tokens."""
    if max_tokens < 2:
        raise InputError("max_tokens must be at least 2 (one token to condition on, one to score).")
    enc = lm.tokenizer(list(texts), add_special_tokens=True)["input_ids"]
    return [ids[:max_tokens] for ids in enc], [len(ids) > max_tokens for ids in enc]


def _batches(lengths: list[int], vocab: int, batch_size: int | None) -> list[list[int]]:
    """Group text indices, longest first, so that B * T * vocab stays under LOGITS_BUDGET."""
    max_tokens = max(1, LOGITS_BUDGET // max(vocab, 1))
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups: list[list[int]] = []
    for i in order:
        cur = groups[-1] if groups else None
        # Sorted longest first, so the first member of a group fixes its padded length.
        if cur and (batch_size is None or len(cur) < batch_size) and (len(cur) + 1) * lengths[cur[0]] <= max_tokens:
            cur.append(i)
        else:
            groups.append([i])
    return groups


def vocab_size(lm: "LoadedModel") -> int:
    return int(lm.model.config.get_text_config().vocab_size)


def plan_batches(lm: "LoadedModel", ids: list[list[int]], batch_size: int | None) -> list[list[int]]:
    """How :func:`forward_logits` would group these encoded texts for this model."""
    return _batches([len(x) for x in ids], vocab_size(lm), batch_size)


def forward_logits(
    lm: "LoadedModel",
    texts: Sequence[str],
    *,
    max_tokens: int = 512,
    batch_size: int | None = 16,
    deadline: Deadline | float | None = None,
    progress: ProgressFn | None = None,
    encoded: tuple[list[list[int]], list[bool]] | None = None,
    groups: list[list[int]] | None = None,
) -> Iterator[Batch]:
    """Run the model over texts in padded batches and yield each batch's logits.

    ``deadline`` (a :class:`~backends.decoding.Deadline`, or a ``time.monotonic()`` value; None: no
    budget) is checked between batches. ``encoded`` reuses ids from :func:`encode`; ``groups`` fixes the batches (lists
    of text indices), so that two models can be run over identical batches.
    """
    import torch

    ids, truncated = encoded if encoded is not None else encode(lm, texts, max_tokens)
    if not ids:
        return
    dl = Deadline.of(deadline)
    pad = pad_id(lm.tokenizer)
    if groups is None:
        groups = plan_batches(lm, ids, batch_size)
    device = lm.device
    done = 0
    for group in groups:
        dl.check(f"Stopped after {done} of {len(ids)} texts: the request ran past its time budget. "
                 "Send fewer or shorter texts.")
        p = pad_batch([ids[i] for i in group], pad, "right")
        with torch.inference_mode():
            out = lm.model(input_ids=p.ids.to(device), attention_mask=p.mask.to(device), use_cache=False)
        done += len(group)
        if progress:
            progress(done / len(ids), f"Scored {done}/{len(ids)} texts")
        yield Batch(group, out.logits.float().cpu(), p.ids, p.mask, [truncated[i] for i in group])


def score(
    lm: "LoadedModel",
    texts: Sequence[str],
    *,
    max_tokens: int = 512,
    top_k: int = 5,
    batch_size: int | None = 16,
    deadline: Deadline | float | None = None,
    progress: ProgressFn | None = None,
) -> list[TokenScores]:
    """Per-token log-probabilities, entropies and top-k alternatives for each text, in input order."""
    import torch

    texts = list(texts)
    results: list[TokenScores | None] = [None] * len(texts)
    for batch in forward_logits(lm, texts, max_tokens=max_tokens, batch_size=batch_size,
                                deadline=deadline, progress=progress):
        logp = torch.log_softmax(batch.logits[:, :-1], dim=-1)  # (B, T-1, V): predicts tokens 1..T-1
        entropy = -(logp.exp() * logp).sum(-1)  # (B, T-1)
        target = batch.input_ids[:, 1:]
        tok_logp = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)  # (B, T-1)
        k = max(1, min(top_k, logp.shape[-1]))
        top_lp, top_id = logp.topk(k, dim=-1)
        for row, i in enumerate(batch.indices):
            n = int(batch.attention_mask[row].sum())
            results[i] = _token_scores(lm, texts[i], batch.input_ids[row, :n].tolist(),
                                       tok_logp[row, : n - 1], entropy[row, : n - 1],
                                       top_id[row, : n - 1], top_lp[row, : n - 1], batch.truncated[row])
    return [r for r in results if r is not None]


def _token_scores(lm, text, ids, logp, ent, top_id, top_lp, truncated) -> TokenScores:
    tok = lm.tokenizer
    tokens = tok.batch_decode([[i] for i in ids])
    top_ids = top_id.numpy()
    flat = tok.batch_decode([[int(i)] for i in top_ids.reshape(-1)]) if top_ids.size else []
    k = top_ids.shape[1] if top_ids.ndim == 2 else 0
    top_tokens = [flat[r * k:(r + 1) * k] for r in range(top_ids.shape[0])]
    return TokenScores(text, ids, tokens, logp.numpy().astype(np.float64), ent.numpy().astype(np.float64),
                       top_ids, top_lp.numpy().astype(np.float64), top_tokens, truncated)


def generate(
    lm: "LoadedModel",
    prompt: str,
    *,
    max_new_tokens: int = 64,
    sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int | None = 0,
    chat: bool = False,
) -> Generation:
    """Decode a continuation of ``prompt`` (greedy unless ``sample``); reproducible for a seed.

    With ``chat`` the prompt is wrapped as one user turn in the tokenizer's chat template. Decoding
    stops at EOS (or an end-of-turn token) or after ``max_new_tokens``.
    """
    import torch

    ids = chat_ids(lm, prompt, chat=True) if chat else list(lm.tokenizer(prompt)["input_ids"])
    gen = None
    if sample:
        gen = torch.Generator(device="cpu")
        gen.manual_seed(int(seed) if seed is not None else int(torch.seed()))
    out = decode(lm, [ids], max_new_tokens, sample=sample, temperature=temperature, top_p=top_p, generator=gen)
    new = out.ids[0]
    return Generation(prompt, lm.tokenizer.decode(new, skip_special_tokens=True), new, out.seconds)


def greedy_continue(
    lm: "LoadedModel",
    input_ids: "torch.Tensor",
    max_new_tokens: int,
    *,
    stop: Callable[[list[int]], bool] | None = None,
    deadline: Deadline | float | None = None,
) -> tuple[list[list[int]], list[list[float]]]:
    """Greedy continuation of B equal-length rows, as one batch with a KV cache (see
    :func:`backends.decoding.decode`): per row the new token ids (the stopping token included, EOS
    excluded) and, per new token, p(top-1) - p(top-2) of the distribution it was chosen from.
    """
    eos = lm.tokenizer.eos_token_id
    out = decode(lm, input_ids.tolist(), max_new_tokens, stop=stop,
                 stop_ids={eos} if eos is not None else set(), deadline=deadline)
    return out.ids, out.gaps


# ----- conditional scoring: log p(target | prefix) ------------------------------------------------


@dataclass(frozen=True)
class Continuation:
    """The log-probabilities of a target text's tokens given a prefix (GPTScore, EWoK, ASPIRE).

    ``logprobs[k]`` is log p(t_k | prefix, t_<k) in nats, over the target's tokens only.
    """

    prefix: str
    target: str
    token_ids: list[int]  # (m,) the target's ids
    tokens: list[str]  # (m,) each decoded on its own, for display
    logprobs: np.ndarray  # (m,)
    truncated: bool  # the prefix (from its start) or the target (from its end) was cut to fit max_tokens

    @property
    def total(self) -> float:
        """log p(target | prefix): the sum over the target's tokens."""
        return float(self.logprobs.sum())

    @property
    def mean(self) -> float:
        """The mean token log-probability (the length-normalised score); NaN for an empty target."""
        return float(self.logprobs.mean()) if self.logprobs.size else float("nan")


def continuation_ids(lm: "LoadedModel", prefix: str, target: str, max_tokens: int) -> tuple[list[int], int, bool]:
    """(ids, start, truncated): the prefix's ids (special tokens as the tokenizer adds them), then the
    target's (none added), with the target starting at ``ids[start]``.

    The two are tokenized apart, so the target's tokens are the same whatever precedes it; put the
    separator (a space, a newline) at the start of the target. An empty prefix becomes the BOS (or
    EOS) token, so the target's first token is scored too. Too long: the prefix loses its start
    first, then the target its end.
    """
    tok = lm.tokenizer
    pre = list(tok(prefix, add_special_tokens=True)["input_ids"]) if prefix else []
    if not pre:
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        pre = [int(start if start is not None else pad_id(tok))]
    tgt = list(tok(target, add_special_tokens=False)["input_ids"])
    truncated = False
    if len(pre) + len(tgt) > max_tokens:
        truncated = True
        keep_pre = max(1, max_tokens - len(tgt))
        pre = pre[-keep_pre:]
        tgt = tgt[: max(0, max_tokens - len(pre))]
    return pre + tgt, len(pre), truncated


def scoring_batch_size(lm: "LoadedModel", batch_size: int | None = None) -> int:
    """Texts per forward pass when scores must not depend on batch-mates: ``batch_size`` (default 16), but
    one on int8 models. Their dynamic quantisation scales each layer's input once per call, padding
    included, so a text's log-probabilities move with the rest of its batch (measured on
    Qwen2.5-Coder-0.5B int8: up to 5 nats on an EWoK target), and a comparison of two scores would
    depend on which texts happened to share a batch."""
    if getattr(lm, "weights", None) == "int8":
        return 1
    return 16 if batch_size is None else max(1, int(batch_size))


def score_continuations(
    lm: "LoadedModel",
    prefixes: Sequence[str],
    targets: Sequence[str],
    *,
    max_tokens: int = 1024,
    batch_size: int | None = None,
    deadline: Deadline | float | None = None,
    progress: ProgressFn | None = None,
    too_long: str | None = None,
) -> list[Continuation]:
    """log p(target_i | prefix_i) token by token, for each pair, in input order.

    A pair longer than ``max_tokens`` is cut (its ``truncated`` flag set); with ``too_long`` (a message), such a
    pair is an :class:`InputError` with that message instead, raised before any model call.

    Pairs run in left-padded batches (:func:`scoring_batch_size`: one per pass on int8 models), and the
    LM head projects only the positions that predict target tokens (``logits_to_keep``): a long prefix
    costs its forward pass but no vocabulary-sized logits (262k per position for Gemma 3).
    """
    import torch

    prefixes, targets = list(prefixes), list(targets)
    if len(prefixes) != len(targets):
        raise InputError(f"Got {len(prefixes)} prefixes but {len(targets)} targets: they go in pairs.")
    if max_tokens < 2:
        raise InputError("max_tokens must be at least 2 (one token to condition on, one to score).")
    encoded = [continuation_ids(lm, p, t, max_tokens) for p, t in zip(prefixes, targets)]
    if too_long is not None and any(cut for _, _, cut in encoded):
        raise InputError(too_long)
    per_pass = scoring_batch_size(lm, batch_size)
    vocab = vocab_size(lm)
    keep = [len(ids) - start + 1 for ids, start, _ in encoded]  # target positions, plus the one before
    groups: list[list[int]] = []
    for i in sorted(range(len(encoded)), key=lambda i: (-keep[i], -len(encoded[i][0]))):
        g = groups[-1] if groups else None
        if g and len(g) < per_pass and (len(g) + 1) * keep[g[0]] * vocab <= LOGITS_BUDGET:
            g.append(i)
        else:
            groups.append([i])
    dl, pad, dev = Deadline.of(deadline), pad_id(lm.tokenizer), lm.device
    results: list[Continuation | None] = [None] * len(encoded)
    done = 0
    for group in groups:
        dl.check(f"Stopped after {done} of {len(encoded)} texts: the request ran past its time budget. "
                 "Send fewer or shorter texts.")
        p = pad_batch([encoded[i][0] for i in group], pad, "left")
        k = keep[group[0]]
        with torch.inference_mode():
            out = lm.model(input_ids=p.ids.to(dev), attention_mask=p.mask.to(dev), position_ids=p.positions.to(dev),
                           use_cache=False, logits_to_keep=k)
        if k > 1:
            logp = torch.log_softmax(out.logits[:, -k:-1].float().cpu(), dim=-1)  # predicts the last k-1 tokens
            tok_logp = logp.gather(-1, p.ids[:, -(k - 1):].unsqueeze(-1)).squeeze(-1)  # (B, k-1)
        else:  # empty targets only: nothing to score
            tok_logp = torch.zeros((len(group), 0))
        for row, i in enumerate(group):
            row_ids, start, truncated = encoded[i]
            m = len(row_ids) - start
            tgt_ids = row_ids[start:]
            lp = tok_logp[row, k - 1 - m:].numpy().astype(np.float64)
            results[i] = Continuation(prefixes[i], targets[i], tgt_ids,
                                      lm.tokenizer.batch_decode([[t] for t in tgt_ids]), lp, truncated)
        done += len(group)
        if progress:
            progress(done / len(encoded), f"Scored {done}/{len(encoded)} texts")
    return [r for r in results if r is not None]
