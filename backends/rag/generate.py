"""The generator: passage prompts, RAG-Token decoding, and RAG-Sequence's candidates and their scores.

The k passage prompts run once as one left-padded batch (:func:`backends.decoding.prefill`); every
decoder starts from a fork of that prefill, so the modes of one question share it.

* RAG-Token (:func:`decode_token`): each step takes the mixture's most likely token and feeds it to
  every row, all k rows in one batch with one KV cache.
* RAG-Sequence (:func:`decode_sequence`): a greedy candidate under each passage (one batched
  :func:`backends.decoding.decode`), then every candidate scored under every passage by repeating each
  passage's KV cache ("thorough" decoding), and the candidate with the largest marginal wins.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from backends.decoding import (
    Deadline,
    Prefill,
    chat_ids,
    common_prefix,
    decode,
    pad_batch,
    pad_id,
    prefill,
    step,
    stop_token_ids,
)
from backends.rag.corpus import Passage
from backends.rag.marginal import sequence_marginal, sequence_posterior, token_mixture, token_posterior

if TYPE_CHECKING:
    from backends.models import LoadedModel

INSTRUCTION = "Answer the question using the passage. Reply with a short answer only (a name, number or place)."
INSTRUCTION_NONE = "Answer the question. Reply with a short answer only (a name, number or place)."
MAX_PASSAGE_CHARS = 1_500  # of passage text placed in one prompt
DEFAULT_NEW_TOKENS = 24
OVER_BUDGET = "Decoding ran past the request's time budget; lower k or the token limit."
SCORE_ROWS = 64  # rows of (passage, candidate) scored in one forward pass


def prompt_text(question: str, passage: Passage | None) -> str:
    if passage is None:
        return f"{INSTRUCTION_NONE}\n\nQuestion: {question}"
    head = f" ({passage.title})" if passage.title else ""
    return f"{INSTRUCTION}\n\nPassage{head}: {passage.text[:MAX_PASSAGE_CHARS]}\n\nQuestion: {question}"


def prompt_ids(lm: "LoadedModel", question: str, passage: Passage | None) -> list[int]:
    """Token ids of one prompt: a user turn in the chat template, or plain text ending in 'Answer:'."""
    return chat_ids(lm, prompt_text(question, passage), plain_suffix="\nAnswer:")


# ----- the k passage prompts in one KV cache --------------------------------------------------------
def shared_prefix(prompts: Sequence[Sequence[int]]) -> int:
    """Length of the longest prefix every prompt starts with, leaving each prompt at least one token of its
    own (its last token's logits are needed)."""
    return common_prefix(prompts, limit=min(len(p) for p in prompts) - 1)


def prefill_passages(lm: "LoadedModel", prompts: Sequence[Sequence[int]]) -> Prefill:
    """The k passage prompts run into one KV cache, each without padding: what RAG's decoders start from.

    The prompts' shared prefix (chat template, instruction: about 60 of ~230 tokens) runs once; each prompt's
    own rest then runs alone on a copy of that prefix's cache, and the k caches are stacked with left padding
    (masked, as :func:`backends.decoding.prefill` lays them out). Against one left-padded batch this skips
    the padding and the k-1 repeats of the prefix (on two CPU cores the prefill is most of an answer's time),
    and no row is computed together with another's tokens (int8 layers scale their input per call).
    Falls back to :func:`backends.decoding.prefill` for one prompt or a cache that is not a plain
    ``DynamicCache`` (sliding-window layers, say).
    """
    import torch
    import torch.nn.functional as F
    from transformers import DynamicCache

    prompts = [list(p) for p in prompts]
    if len(prompts) == 1:
        return prefill(lm, prompts)
    n = shared_prefix(prompts)
    head = prefill(lm, [prompts[0][:n]]) if n else None
    if head is not None and not _plain_cache(head.cache):
        return prefill(lm, prompts)
    caches, logits = [], []
    for p in prompts:
        row = _run_rest(lm, head, p[n:]) if head is not None else prefill(lm, [p])
        if not _plain_cache(row.cache):
            return prefill(lm, prompts)
        caches.append(row.cache)
        logits.append(row.logits)
    padded = pad_batch(prompts, pad_id(lm.tokenizer), "left")
    width = padded.ids.shape[1]
    cache = DynamicCache()
    for layer in range(len(caches[0].layers)):
        keys = [F.pad(c.layers[layer].keys, (0, 0, width - c.layers[layer].keys.shape[-2], 0)) for c in caches]
        values = [F.pad(c.layers[layer].values, (0, 0, width - c.layers[layer].values.shape[-2], 0)) for c in caches]
        cache.update(torch.cat(keys), torch.cat(values), layer)
    return Prefill(cache, padded.mask, padded.mask.sum(-1), torch.cat(logits))


def _run_rest(lm: "LoadedModel", head: Prefill, rest: list[int]) -> Prefill:
    """A copy of the one-row prefix state, run on through ``rest`` (one row, no padding)."""
    import torch

    state = head.fork()
    start = int(state.next_pos[0])
    mask = torch.ones((1, start + len(rest)), dtype=state.mask.dtype)
    dev = lm.device
    with torch.inference_mode():
        out = lm.model(input_ids=torch.tensor([rest], device=dev), attention_mask=mask.to(dev),
                       position_ids=torch.arange(start, start + len(rest), device=dev)[None],
                       past_key_values=state.cache, use_cache=True, logits_to_keep=1)
    return Prefill(out.past_key_values, mask, mask.sum(-1), out.logits[:, -1].float().cpu())


def _plain_cache(cache: object) -> bool:
    layers = getattr(cache, "layers", None)
    return (type(cache).__name__ == "DynamicCache" and bool(layers)
            and all(type(x).__name__ == "DynamicLayer" for x in layers))


# ----- typed results --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Generation:
    """One mode's answer as token ids (end token excluded) and log p(y|x) under the mode's model."""

    ids: list[int]
    logprob: float  # end token included where the answer ended


@dataclass(frozen=True)
class TokenResult(Generation):
    """RAG-Token: the answer with which passage explains each of its tokens."""

    posteriors: np.ndarray  # (T, k) p(z|x,y_<=i) per generated token
    per_passage: np.ndarray  # (T, k) log p(y_i|x,z,y_<i) per generated token
    passage_posterior: np.ndarray  # (k,) p(z|x,y) of the whole answer


@dataclass(frozen=True)
class SequenceResult(Generation):
    """RAG-Sequence: the best candidate, with every candidate's scores."""

    candidates: list[list[int]]  # unique candidates in first-seen order
    origin: list[list[int]]  # per candidate, the passages (0-based rows) whose greedy decoding produced it
    marginal: np.ndarray  # (C,) log p(y_c|x)
    loglik: np.ndarray  # (k, C) log p(y_c|x,z)
    passage_posterior: np.ndarray  # (k,) p(z|x,y) of the winning candidate


# ----- RAG-Token ------------------------------------------------------------------------------------
def decode_token(lm: "LoadedModel", pre: Prefill, log_prior: np.ndarray, max_new_tokens: int,
                 deadline: Deadline | float | None = None, *, stop_ids: set[int] | None = None) -> TokenResult:
    """RAG-Token greedy decoding on the mixture, all k passage rows in one batch with one KV cache.

    ``pre``: the k passage prompts (forked, not consumed); ``log_prior``: (k,) log p(z|x). Each step the
    mixture log sum_z p(z|x) p(.|x,z,y_<i) is computed in float64 in torch from the rows' float32
    log-probabilities, its argmax fed to every row. The end token is scored when it is the mixture's
    choice within ``max_new_tokens`` + 1 steps (an answer cut by the limit has no end-token term).
    ``stop_ids``: the end tokens (default :func:`backends.decoding.stop_token_ids`; an empty set decodes
    exactly ``max_new_tokens`` tokens, as the benchmark does to time sustained decoding).
    """
    import torch

    dl = Deadline.of(deadline)
    stops = stop_token_ids(lm) if stop_ids is None else set(stop_ids)
    state = pre.fork()
    k = state.rows
    ids: list[int] = []
    per_z: list[np.ndarray] = []
    total = 0.0
    for n in range(max_new_tokens + 1):
        logp = torch.log_softmax(state.logits, dim=-1)  # (k, V) float32
        mix = token_mixture(log_prior, logp)  # (V,) float64
        y = int(mix.argmax())
        if n == max_new_tokens and y not in stops:
            break  # out of tokens: the answer is cut, its end token not scored
        total += float(mix[y])
        if y in stops:
            break
        ids.append(y)
        per_z.append(logp[:, y].double().numpy())
        dl.check(OVER_BUDGET)
        step(lm, state, torch.full((k,), y, dtype=torch.long))
    lik = np.array(per_z).reshape(-1, k)
    post = np.array([token_posterior(log_prior, row) for row in lik]).reshape(-1, k)
    seq_post = token_posterior(log_prior, lik.sum(0)) if ids else np.exp(log_prior)
    return TokenResult(ids=ids, logprob=total, posteriors=post, per_passage=lik, passage_posterior=seq_post)


# ----- RAG-Sequence ---------------------------------------------------------------------------------
def decode_each(lm: "LoadedModel", pre: Prefill, max_new_tokens: int,
                deadline: Deadline | float | None = None) -> list[list[int]]:
    """Greedy decoding under each passage separately (RAG-Sequence's candidates): each row's new ids,
    end token excluded. One batch, one KV cache: :func:`backends.decoding.decode`."""
    return decode(lm, pre, max_new_tokens, deadline=deadline).ids


def score_candidates(lm: "LoadedModel", pre: Prefill, candidates: Sequence[Sequence[int]],
                     deadline: Deadline | float | None = None, rows: Sequence[int] | None = None) -> np.ndarray:
    """log p(y_c | x, z) of every candidate under every passage (or the passages ``rows``): (k, C), end
    token included.

    The prompts are not run again: each passage's KV cache is repeated once per candidate and only the
    candidates' tokens are fed, right-padded, as one batch of (passage, candidate) rows.
    """
    import torch

    dl = Deadline.of(deadline)
    dl.check(OVER_BUDGET)
    zs_all = list(range(pre.rows)) if rows is None else list(rows)
    C = len(candidates)
    seqs = [list(c) + [lm.tokenizer.eos_token_id] for c in candidates]  # p(y) includes ending the answer
    first = pre.logp()[zs_all].double().numpy()  # (k, V): predicts each candidate's first token
    out = np.zeros((len(zs_all), C))
    for c, s in enumerate(seqs):
        out[:, c] = first[:, s[0]]
    feed = pad_batch([s[:-1] for s in seqs], pad_id(lm.tokenizer), "right")  # tokens fed: all but the last
    width = max(feed.lengths)
    if width == 0:
        return out
    targets = pad_batch([s[1:] for s in seqs], 0, "right").ids  # (C, width): the token each fed one predicts
    per_chunk = max(1, SCORE_ROWS // max(C, 1))  # k*C rows of cache never all exist at once for large k
    dev = lm.device
    for z0 in range(0, len(zs_all), per_chunk):
        zs = zs_all[z0:z0 + per_chunk]
        state = pre.fork(rows=zs, repeat=C)
        mask = torch.cat([state.mask, feed.mask.repeat(len(zs), 1)], dim=1)
        pos = state.next_pos[:, None] + torch.arange(width)[None, :]
        with torch.inference_mode():
            res = lm.model(input_ids=feed.ids.repeat(len(zs), 1).to(dev), attention_mask=mask.to(dev),
                           position_ids=pos.to(dev), past_key_values=state.cache, use_cache=True)
            logits = res.logits.float()  # (len(zs)*C, width, V)
            # log_softmax at the targets only: x_t - logsumexp(x), without a second (rows, width, V) tensor
            picked = logits.gather(-1, targets.repeat(len(zs), 1)[..., None].to(dev))[..., 0]
            lp = (picked - torch.logsumexp(logits, dim=-1)).cpu()  # (len(zs)*C, width)
        for zi in range(len(zs)):
            for c, s in enumerate(seqs):
                if len(s) > 1:
                    out[z0 + zi, c] += float(lp[zi * C + c, : len(s) - 1].sum())
        dl.check(OVER_BUDGET)
    return out


def dedupe(seqs: Sequence[Sequence[int]]) -> tuple[list[list[int]], list[list[int]]]:
    """Unique candidates in first-seen order and, for each, the passages that produced it."""
    uniq: dict[tuple[int, ...], list[int]] = {}
    for z, s in enumerate(seqs):
        uniq.setdefault(tuple(s), []).append(z)
    return [list(s) for s in uniq], list(uniq.values())


def decode_sequence(lm: "LoadedModel", pre: Prefill, log_prior: np.ndarray, max_new_tokens: int,
                    deadline: Deadline | float | None = None, *,
                    seqs: Sequence[Sequence[int]] | None = None) -> SequenceResult:
    """RAG-Sequence with thorough decoding: candidates decoded greedily under each passage (or ``seqs``,
    already decoded), each scored under every passage, the largest marginal log p(y|x) chosen."""
    if seqs is None:
        seqs = decode_each(lm, pre, max_new_tokens, deadline)
    cands, origin = dedupe(seqs)
    loglik = score_candidates(lm, pre, cands, deadline)  # (k, C)
    marg = sequence_marginal(log_prior, loglik)
    best = int(np.argmax(marg))
    return SequenceResult(ids=cands[best], logprob=float(marg[best]), candidates=cands, origin=origin, marginal=marg,
                          loglik=loglik, passage_posterior=sequence_posterior(log_prior, loglik[:, best]))


def decode_plain(lm: "LoadedModel", pre: Prefill, max_new_tokens: int, deadline: Deadline | float | None = None,
                 *, seq: Sequence[int] | None = None) -> Generation:
    """Greedy decoding under the first prompt of ``pre`` alone (the top-1 and no-retrieval baselines),
    with log p(y|x) of the answer and its end token under that prompt."""
    if seq is None:
        seq = decode_each(lm, pre.fork(rows=[0]) if pre.rows > 1 else pre, max_new_tokens, deadline)[0]
    ll = score_candidates(lm, pre, [seq], deadline, rows=[0])
    return Generation(ids=list(seq), logprob=float(ll[0, 0]))

