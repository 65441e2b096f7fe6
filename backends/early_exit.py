"""LayerSkip-style views of a decoder: logit lens, early exit and self-speculative decoding.

Logit lens: the residual stream after every layer (the embeddings included) goes through the model's
own final norm and LM head, giving each layer's next-token distribution. The last layer reproduces
the model's output exactly.

Self-speculative decoding (Elhoushi et al. 2024): draft d tokens greedily with the first E layers
(then the final norm and head), verify them with the remaining layers in one parallel pass, accept
the drafts up to the first disagreement and append the full model's own token there. Greedy output
is identical to the full model's greedy output by construction. The KV cache of layers 0..E-1 is
shared: drafting fills it for the drafted tokens, and verification starts at layer E from the saved
layer-(E-1) states of those tokens (the "exit query cache"), so the shared layers never run twice.
"""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from backends.config import InputError, check_count, check_text, limits
from backends.models import LoadedModel, registry

_swap_lock = threading.Lock()  # the layer stack is swapped during verification: one at a time


@dataclass(frozen=True)
class Parts:
    layers: Any  # nn.ModuleList of decoder layers
    norm: Any  # final norm
    head: Any  # LM head
    embed: Any  # input embeddings module
    base: Any  # the inner decoder model holding .layers
    softcap: float | None  # final logit soft-capping (Gemma), None where the model has none


def parts(lm: LoadedModel) -> Parts:
    """Find the decoder layers, final norm and head through the model's own structure."""
    import torch.nn as nn

    model = lm.model
    base = getattr(model, "model", None)
    layers = getattr(base, "layers", None)
    norm = getattr(base, "norm", None)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    embed = base.get_input_embeddings() if base is not None and hasattr(base, "get_input_embeddings") else None
    if not isinstance(layers, nn.ModuleList) or norm is None or head is None or embed is None:
        raise InputError(
            f"{lm.name} ({type(model).__name__}) does not expose a decoder layer stack with a final norm and an LM "
            "head (model.model.layers, model.model.norm, lm_head), so its layers cannot be read one by one."
        )
    cfg = model.config.get_text_config()
    return Parts(layers, norm, head, embed, base, getattr(cfg, "final_logit_softcapping", None))


def _layer_output(output):
    """The hidden states a decoder layer returned (a tensor, or the first item of a tuple)."""
    return output[0] if isinstance(output, tuple) else output


def _project(p: Parts, h):
    """Final norm + head (+ Gemma's soft-capping) of hidden states (..., H) -> logits (..., V)."""
    import torch

    logits = p.head(p.norm(h)).float()
    if p.softcap:
        logits = torch.tanh(logits / p.softcap) * p.softcap
    return logits


# ----- logit lens --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lens:
    tokens: list[str]  # (T,) input tokens; position t predicts token t+1
    layer_names: list[str]  # (L+1,) "embeddings", "layer 1", ..., "layer L"
    top_tokens: list[list[list[str]]]  # [layer][position][k]
    top_probs: list[list[list[float]]]  # [layer][position][k]
    final_token_prob: list[list[float]]  # [layer][position]: probability of the final layer's top-1 token
    entropy: list[list[float]]  # [layer][position], nats
    exit_layer: list[int]  # per position: earliest layer from which top-1 equals the final one and stays so
    mind_changes: list[int]  # per position: how often top-1 changes from one layer to the next
    mean_exit_layer: float  # average of exit_layer (the paper's "23.45 of 32 layers")
    n_layers: int
    model: str
    seconds: float


def exit_layers(top1: np.ndarray) -> tuple[list[int], list[int]]:
    """From top-1 ids per (layer, position) (L+1, T): earliest stable layer and changes of mind.

    Layer 0 is the embeddings; the exit layer of a position is the smallest l such that top-1 at
    every layer >= l equals the final layer's top-1.
    """
    top1 = np.asarray(top1)
    final = top1[-1]
    agree = top1 == final[None, :]
    n_layers = top1.shape[0]
    exits = []
    for t in range(top1.shape[1]):
        l = n_layers - 1
        while l > 0 and agree[l - 1, t]:
            l -= 1
        exits.append(int(l))
    changes = (top1[1:] != top1[:-1]).sum(axis=0).astype(int).tolist()
    return exits, changes


def logit_lens(text: str, model: str | None = None, top_k: int = 5, *, max_tokens: int | None = None) -> Lens:
    """Per-layer next-token predictions for every position of a text (one forward pass).

    Only what is shown is kept per layer (top-k, the final token's probability, entropy); the full
    vocabulary tensor of one layer at a time is discarded after use.
    """
    import torch

    text = check_text(text)
    top_k = check_count(top_k, what="top-k", low=1, high=20)
    lim = limits()
    max_tokens = min(max_tokens or lim.max_tokens, lim.max_tokens)
    reg = registry()
    name = reg.resolve(model, "early_exit")
    lm = reg.get(name)
    p = parts(lm)
    t0 = time.perf_counter()
    ids = lm.tokenizer(text)["input_ids"][:max_tokens]
    if len(ids) < 1:
        raise InputError("The text has no tokens.")
    states: list = []
    hooks = [p.embed.register_forward_hook(lambda m, i, o: states.append(o))]
    hooks += [layer.register_forward_hook(lambda m, i, o: states.append(_layer_output(o)))
              for layer in p.layers]
    try:
        with torch.inference_mode():
            out = lm.model(input_ids=torch.tensor([ids], device=lm.device), use_cache=False)
    finally:
        for h in hooks:
            h.remove()
    final_logits = out.logits[0].float()
    final_top = final_logits.argmax(-1)
    tops, probs, fprob, ents, top1 = [], [], [], [], []
    with torch.inference_mode():
        for l, h in enumerate(states):
            # The last layer's lens is the model's own output; compute it the same way for all others.
            logits = final_logits if l == len(states) - 1 else _project(p, h[0])
            logp = torch.log_softmax(logits, -1)
            pr = logp.exp()
            tv, ti = pr.topk(top_k, -1)
            tops.append(ti.tolist())
            probs.append(tv.tolist())
            fprob.append(pr.gather(-1, final_top[:, None]).squeeze(-1).tolist())
            ents.append((-(pr * logp).sum(-1)).tolist())
            top1.append(ti[:, 0].tolist())
    flat = sorted({i for layer in tops for pos in layer for i in pos})
    dec = dict(zip(flat, lm.tokenizer.batch_decode([[i] for i in flat])))
    top_tokens = [[[dec[i] for i in pos] for pos in layer] for layer in tops]
    exits, changes = exit_layers(np.array(top1))
    names = ["embeddings"] + [f"layer {i}" for i in range(1, len(states))]
    return Lens(lm.tokenizer.batch_decode([[i] for i in ids]), names, top_tokens, probs, fprob, ents, exits, changes,
                float(np.mean(exits)), len(states) - 1, name, time.perf_counter() - t0)


def lens_matches_model(text: str, model: str | None = None) -> float:
    """Largest |softmax difference| between the last layer's lens (norm + head on the hooked residual
    stream) and the model's own output: the lens' correctness check."""
    import torch

    reg = registry()
    lm = reg.get(reg.resolve(model, "early_exit"))
    p = parts(lm)
    ids = torch.tensor([lm.tokenizer(text)["input_ids"]], device=lm.device)
    last: list = []
    hook = p.layers[-1].register_forward_hook(lambda m, i, o: last.append(_layer_output(o)))
    try:
        with torch.inference_mode():
            out = lm.model(input_ids=ids, use_cache=False)
            lens = _project(p, last[0][0])
    finally:
        hook.remove()
    return float((torch.softmax(lens, -1) - torch.softmax(out.logits[0].float(), -1)).abs().max())


# ----- early exit and self-speculative decoding ------------------------------------------------------
class _Skip:
    """Stands in for a decoder layer during verification: passes its input through, or (the last
    skipped layer) returns the saved layer-(E-1) states of the drafted tokens."""

    def __init__(self, layer, replacement=None):
        self.attention_type = getattr(layer, "attention_type", None)
        self.replacement = replacement

    def __call__(self, *args, **kwargs):
        hidden_states = args[0] if args else kwargs["hidden_states"]
        return self.replacement if self.replacement is not None else hidden_states


class _LayerView(list):
    """A list the decoder model iterates instead of its ModuleList (it only slices and iterates)."""


@contextlib.contextmanager
def _first_layers(lm: LoadedModel, n: int):
    """Run only the first n decoder layers (then the final norm and head)."""
    cfg = lm.model.config.get_text_config()
    full = cfg.num_hidden_layers
    cfg.num_hidden_layers = n
    try:
        yield
    finally:
        cfg.num_hidden_layers = full


@contextlib.contextmanager
def _upper_layers(lm: LoadedModel, p: Parts, exit_layer: int, saved):
    """Run layers exit_layer.. on the saved layer-(E-1) states (layers below are skipped)."""
    original = p.base.layers
    view = _LayerView([_Skip(layer) for layer in original[: exit_layer - 1]]
                      + [_Skip(original[exit_layer - 1], saved)] + list(original[exit_layer:]))
    p.base.__dict__["layers"] = view  # bypass nn.Module's registration: a temporary plain attribute
    try:
        yield
    finally:
        del p.base.__dict__["layers"]
        assert p.base.layers is original


@dataclass(frozen=True)
class Step:
    drafted: int
    accepted: int


@dataclass(frozen=True)
class SpecResult:
    prompt: str
    token_ids: list[int]  # new tokens, identical to greedy decoding
    text: str
    token_sources: list[str]  # per new token: "draft" (accepted) or "verifier" (corrected or added)
    steps: list[Step]
    exit_layer: int
    num_speculations: int
    seconds: float
    greedy_token_ids: list[int]
    greedy_seconds: float
    early_exit_text: str  # greedy decoding with the first E layers only
    n_layers: int
    model: str

    @property
    def drafted(self) -> int:
        return sum(s.drafted for s in self.steps)

    @property
    def accepted(self) -> int:
        return sum(s.accepted for s in self.steps)

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.drafted if self.drafted else float("nan")

    @property
    def speedup(self) -> float:
        return self.greedy_seconds / self.seconds if self.seconds > 0 else float("nan")

    @property
    def identical(self) -> bool:
        return self.token_ids == self.greedy_token_ids


def _check(lm: LoadedModel, exit_layer: int, num_speculations: int, max_new_tokens: int) -> tuple[int, int, int]:
    n = lm.model.config.get_text_config().num_hidden_layers
    e = check_count(exit_layer, what="Exit layer E", low=1, high=n - 1)
    d = check_count(num_speculations, what="Speculations d", low=1, high=16)
    m = check_count(max_new_tokens, what="New tokens", low=1, high=limits().max_new_tokens)
    return e, d, m


def accept(drafts: list[int], verified: list[int], eos: int | None = None) -> int:
    """How many drafts to keep: the longest prefix on which they equal the verifier's greedy choices.

    verified[i] is the full model's token after the i-th input of the verification pass (the
    pending token, then each draft), so drafts[i] is checked against verified[i]; the token that
    follows the accepted drafts is always verified[accepted]. A drafted EOS is never accepted.
    """
    n = 0
    while n < len(drafts) and drafts[n] == verified[n] and drafts[n] != eos:
        n += 1
    return n


def greedy(lm: LoadedModel, prompt_ids: list[int], max_new_tokens: int, layers: int | None = None) -> list[int]:
    """Plain greedy decoding with a KV cache, with all layers or only the first ``layers``."""
    import torch

    eos = lm.tokenizer.eos_token_id
    out: list[int] = []
    ctx = _first_layers(lm, layers) if layers else contextlib.nullcontext()
    with torch.inference_mode(), ctx:
        dev = lm.device
        res = lm.model(input_ids=torch.tensor([prompt_ids], device=dev), use_cache=True, logits_to_keep=1)
        cache = res.past_key_values
        for _ in range(max_new_tokens):
            t = int(res.logits[0, -1].argmax())
            if t == eos:
                break
            out.append(t)
            if len(out) == max_new_tokens:
                break
            res = lm.model(input_ids=torch.tensor([[t]], device=dev), past_key_values=cache, use_cache=True)
    return out


def self_speculative(prompt: str, model: str | None = None, exit_layer: int = 8, num_speculations: int = 4,
                     max_new_tokens: int = 64, *, compare: bool = True) -> SpecResult:
    """Self-speculative greedy decoding (draft with E layers, verify with the rest), timed against plain greedy."""
    prompt = check_text(prompt, what="Prompt")
    reg = registry()
    name = reg.resolve(model, "early_exit")
    lm = reg.get(name)
    p = parts(lm)
    E, d, m = _check(lm, exit_layer, num_speculations, max_new_tokens)
    ids = lm.tokenizer(prompt)["input_ids"][: limits().max_tokens]
    eos = lm.tokenizer.eos_token_id
    with _swap_lock:
        t0 = time.perf_counter()
        out, sources, steps = _speculate(lm, p, ids, E, d, m, eos)
        seconds = time.perf_counter() - t0
        g_ids, g_seconds, early = [], float("nan"), ""
        if compare:
            t0 = time.perf_counter()
            g_ids = greedy(lm, ids, m)
            g_seconds = time.perf_counter() - t0
            early = lm.tokenizer.decode(greedy(lm, ids, m, layers=E), skip_special_tokens=True)
    return SpecResult(prompt, out, lm.tokenizer.decode(out, skip_special_tokens=True), sources, steps, E, d, seconds,
                      g_ids, g_seconds, early, len(p.layers), name)


def _speculate(lm: LoadedModel, p: Parts, ids: list[int], E: int, d: int, m: int, eos: int):
    import torch

    saved_states: list = []
    grab = None
    out: list[int] = []
    sources: list[str] = []
    steps: list[Step] = []
    try:
        with torch.inference_mode():
            dev = lm.device
            res = lm.model(input_ids=torch.tensor([ids], device=dev), use_cache=True, logits_to_keep=1)
            cache = res.past_key_values
            pending = int(res.logits[0, -1].argmax())  # the full model's next token, not yet in the cache
            n = len(ids)  # tokens in every layer's cache
            while len(out) < m and pending != eos:
                out.append(pending)
                sources.append("verifier")
                if len(out) >= m:
                    break
                # Draft: feed pending and each draft through the first E layers (their cache fills in).
                grab = p.layers[E - 1].register_forward_hook(
                    lambda mod, i, o: saved_states.append(_layer_output(o)))
                saved_states.clear()
                drafts, x = [], pending
                budget = min(d, m - len(out))
                with _first_layers(lm, E):
                    for i in range(budget + 1):
                        if i == budget:
                            # The last draft only needs its layer-(E-1) state for verification: run the
                            # shared layers without the norm and head.
                            p.base(input_ids=torch.tensor([[x]], device=dev), past_key_values=cache, use_cache=True)
                            break
                        r = lm.model(input_ids=torch.tensor([[x]], device=dev), past_key_values=cache, use_cache=True,
                                     logits_to_keep=1)
                        x = int(r.logits[0, -1].argmax())
                        drafts.append(x)
                grab.remove()
                grab = None
                # Verify: layers E.. on [pending, drafts...] from the saved states, positions n..n+len.
                q = len(drafts) + 1
                saved = torch.cat(saved_states[-q:], dim=1)
                pos = torch.arange(n, n + q, device=dev)[None, :]
                # The shared layers' cache already holds these q tokens, the upper layers' does not, so
                # the model would size its causal mask from the wrong layer: pass the 4D mask of the
                # upper layers (query i at position n+i sees keys 0..n+i), which it uses as given.
                mask = torch.ones(q, n + q, dtype=torch.bool, device=dev).tril(diagonal=n)[None, None]
                with _upper_layers(lm, p, E, saved):
                    r = lm.model(input_ids=torch.tensor([[pending] + drafts], device=dev), past_key_values=cache,
                                 position_ids=pos, attention_mask=mask, use_cache=True)
                full = r.logits[0].argmax(-1).tolist()  # the full model's choice after each input token
                accepted = accept(drafts, full, eos)
                steps.append(Step(len(drafts), accepted))
                for t in drafts[:accepted]:
                    if len(out) >= m:
                        break
                    out.append(t)
                    sources.append("draft")
                pending = full[accepted]
                n += 1 + accepted
                _crop(cache, n)  # drop the rejected drafts from every layer
    finally:
        if grab is not None:
            grab.remove()
    return out[:m], sources[:m], steps


def _crop(cache, length: int) -> None:
    """Keep the first ``length`` tokens in every layer of a DynamicCache."""
    for layer in cache.layers:
        extra = layer.get_seq_length() - length
        if extra > 0:
            layer.crop(-extra)


def transformers_assistant_early_exit(prompt: str, model: str | None = None, exit_layer: int = 8,
                                      num_speculations: int = 4, max_new_tokens: int = 64) -> tuple[list[int], float]:
    """The same generation through transformers' own generate(assistant_early_exit=E): (ids, seconds)."""
    import torch

    reg = registry()
    lm = reg.get(reg.resolve(model, "early_exit"))
    ids = torch.tensor([lm.tokenizer(prompt)["input_ids"]], device=lm.device)
    lm.model.generation_config.num_assistant_tokens = num_speculations
    lm.model.generation_config.num_assistant_tokens_schedule = "constant"
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = lm.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, temperature=None,
                                top_p=None, top_k=None, max_new_tokens=max_new_tokens, assistant_early_exit=exit_layer,
                                pad_token_id=lm.tokenizer.pad_token_id)
    return out[0, ids.shape[1]:].tolist(), time.perf_counter() - t0
