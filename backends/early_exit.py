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
Verification projects a position through the head only while the drafts before it were accepted, and
an adaptive schedule (:func:`adapt`) drafts less while drafts fail, so that failing drafts cost little.

The decoder runs a subset of its layers by iterating a stand-in layer list for the duration of one
call (:func:`layer_stack`); nothing else about the model (its config, its modules) is changed.
"""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from backends import sweeps
from backends.config import InputError, check_count, check_text, limits
from backends.decoding import Deadline, decode
from backends.models import LoadedModel, registry

# Layer swaps and the lens' hooks change what a forward pass of the shared model does: one at a time.
# Reentrant: a speculation holds it for its whole run (drafts, verification and the greedy baseline).
_model_lock = threading.RLock()


def _model(model: str | LoadedModel | None) -> LoadedModel:
    """A LoadedModel as given, else a name (or None: the "early_exit" slot) from the registry."""
    if isinstance(model, LoadedModel):
        return model
    reg = registry()
    return reg.get(reg.resolve(model, "early_exit"))


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


def _head_logits(p: Parts, normed):
    """LM head (+ Gemma's soft-capping) of hidden states that already went through the final norm."""
    import torch

    logits = p.head(normed).float()
    if p.softcap:
        logits = torch.tanh(logits / p.softcap) * p.softcap
    return logits


def _project(p: Parts, h):
    """Final norm + head (+ soft-capping) of hidden states (..., H) -> logits (..., V)."""
    return _head_logits(p, p.norm(h))


# ----- running part of the layer stack ------------------------------------------------------------
class _StandIn:
    """Stands in for a decoder layer in a stack: passes its input on unchanged, or returns ``replay``
    instead (the saved states a verification starts from); records what it passes on in ``sink``."""

    def __init__(self, layer, replay=None, sink: list | None = None):
        self.attention_type = getattr(layer, "attention_type", None)  # some decoders read it off the layer
        self.replay, self.sink = replay, sink

    def __call__(self, hidden_states, *args, **kwargs):
        out = hidden_states if self.replay is None else self.replay
        if self.sink is not None:
            self.sink.append(out)
        return out


@contextlib.contextmanager
def layer_stack(p: Parts, stack: Sequence[Any]) -> Iterator[None]:
    """Within the block, the decoder runs ``stack`` instead of its own layers.

    The decoder iterates ``self.layers[:num_hidden_layers]``; a plain list set as an instance attribute
    shadows the registered ModuleList without touching the config or the module tree, and the ModuleList
    is back when the block ends (also on error). ``stack[i]`` gets the mask and position inputs of layer
    ``i``, so stand-ins keep the real layers at their own indices. Holds the module lock.
    """
    with _model_lock:
        original = p.base.layers
        p.base.__dict__["layers"] = list(stack)
        try:
            yield
        finally:
            del p.base.__dict__["layers"]
            assert p.base.layers is original


def first_layers(p: Parts, n: int, sink: list | None = None) -> list:
    """The stack that runs only the first ``n`` layers (recording their output in ``sink`` if given)."""
    stack = list(p.layers[:n])
    return stack + [_StandIn(p.layers[n], sink=sink)] if sink is not None and n < len(p.layers) else stack


def upper_layers(p: Parts, n: int, states) -> list:
    """The stack that runs layers ``n``.. on ``states``, the saved outputs of layer ``n - 1``."""
    lower = [_StandIn(p.layers[0], replay=states)] + [_StandIn(layer) for layer in p.layers[1:n]]
    return lower + list(p.layers[n:])


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
        layer = n_layers - 1
        while layer > 0 and agree[layer - 1, t]:
            layer -= 1
        exits.append(int(layer))
    changes = (top1[1:] != top1[:-1]).sum(axis=0).astype(int).tolist()
    return exits, changes


def _residual_stream(lm: LoadedModel, p: Parts, ids: list[int]):
    """One forward pass: the hidden states after the embeddings and after every layer (each (T, H)), and
    the model's own logits (T, V)."""
    import torch

    states: list = []
    with _model_lock:
        hooks = [p.embed.register_forward_hook(lambda m, i, o: states.append(o[0]))]
        hooks += [layer.register_forward_hook(lambda m, i, o: states.append(_layer_output(o)[0]))
                  for layer in p.layers]
        try:
            with torch.inference_mode():
                out = lm.model(input_ids=torch.tensor([ids], device=lm.device), use_cache=False)
        finally:
            for h in hooks:
                h.remove()
    return states, out.logits[0].float()


def logit_lens(text: str, model: str | LoadedModel | None = None, top_k: int = 5, *,
               max_tokens: int | None = None) -> Lens:
    """Per-layer next-token predictions for the first ``max_tokens`` positions of a text (one forward pass).

    Only the positions shown are run and projected: the text is cut to ``max_tokens`` tokens first (a
    causal model's first positions do not depend on the tokens after them), so each of the L+1 layers
    projects exactly those positions through the head, once. Per cell only what is shown is kept
    (top-k, the final token's probability, entropy); one layer's full-vocabulary tensor at a time.
    """
    import torch

    text = check_text(text)
    top_k = check_count(top_k, what="top-k", low=1, high=20)
    lim = limits()
    max_tokens = min(max_tokens or lim.max_tokens, lim.max_tokens)
    lm = _model(model)
    p = parts(lm)
    t0 = time.perf_counter()
    ids = lm.tokenizer(text)["input_ids"][:max_tokens]
    if len(ids) < 1:
        raise InputError("The text has no tokens.")
    states, final_logits = _residual_stream(lm, p, ids)
    final_top = final_logits.argmax(-1)
    tops, probs, fprob, ents, top1 = [], [], [], [], []
    with torch.inference_mode():
        for layer, h in enumerate(states):
            # The last layer's lens is the model's own output; compute it the same way for all others.
            logits = final_logits if layer == len(states) - 1 else _project(p, h)
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
                float(np.mean(exits)), len(states) - 1, lm.name, time.perf_counter() - t0)


def lens_matches_model(text: str, model: str | LoadedModel | None = None) -> float:
    """Largest |softmax difference| between the last layer's lens (norm + head on the hooked residual
    stream) and the model's own output: the lens' correctness check."""
    import torch

    lm = _model(model)
    p = parts(lm)
    states, logits = _residual_stream(lm, p, lm.tokenizer(text)["input_ids"])
    with torch.inference_mode():
        lens = _project(p, states[-1])
    return float((torch.softmax(lens, -1) - torch.softmax(logits, -1)).abs().max())


# ----- early exit and self-speculative decoding ------------------------------------------------------
MAX_PAUSE = 31  # most plain steps between two speculation steps when drafts keep failing


@dataclass(frozen=True)
class Step:
    drafted: int
    accepted: int


@dataclass(frozen=True)
class SpecResult:
    prompt: str
    token_ids: list[int]  # new tokens, identical to greedy decoding
    text: str
    token_sources: list[str]  # per new token: "draft" (accepted) or "verifier" (the full model's own)
    steps: list[Step]  # one per speculation (draft + verify) step
    exit_layer: int
    num_speculations: int
    seconds: float
    greedy_token_ids: list[int]
    greedy_seconds: float
    early_exit_text: str  # greedy decoding with the first E layers only
    n_layers: int
    model: str
    plain_steps: int = 0  # tokens decoded by the full model alone while drafting paused (adaptive schedule)

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


def greedy(lm: LoadedModel, prompt_ids: list[int], max_new_tokens: int, layers: int | None = None,
           deadline: Deadline | None = None) -> list[int]:
    """Plain greedy decoding with a KV cache (the toolkit's loop), with all layers or only the first ``layers``."""
    eos = lm.tokenizer.eos_token_id
    p = parts(lm)
    with layer_stack(p, first_layers(p, layers)) if layers else contextlib.nullcontext():
        return decode(lm, [prompt_ids], max_new_tokens, stop_ids={eos} if eos is not None else set(),
                      deadline=deadline).ids[0]


def _tensor(lm: LoadedModel, tokens: list[int]):
    import torch

    return torch.tensor([tokens], dtype=torch.long, device=lm.device)


def _draft(lm: LoadedModel, p: Parts, cache, pending: int, exit_layer: int, count: int):
    """Draft ``count`` tokens greedily with the first ``exit_layer`` layers after ``pending``.

    Feeds ``pending`` and each draft through those layers (their cache fills in) and returns the drafts
    and the layer-(E-1) states of ``[pending] + drafts``, (1, count + 1, H), for the verification.
    """
    import torch

    states: list = []
    drafts: list[int] = []
    token = pending
    with layer_stack(p, first_layers(p, exit_layer, states)):
        for _ in range(count):
            out = lm.model(input_ids=_tensor(lm, [token]), past_key_values=cache, use_cache=True, logits_to_keep=1)
            token = int(out.logits[0, -1].argmax())
            drafts.append(token)
        # The last draft needs only its layer-(E-1) state: run the shared layers without the head.
        p.base(input_ids=_tensor(lm, [token]), past_key_values=cache, use_cache=True)
    return drafts, torch.cat(states, dim=1)


def _verify(lm: LoadedModel, p: Parts, cache, pending: int, drafts: list[int], states, start: int,
            exit_layer: int, eos: int | None) -> list[int]:
    """The full model's greedy token after ``pending`` and after each draft that gets checked.

    Layers ``exit_layer``.. run once on the saved states of ``[pending] + drafts`` (positions ``start``..).
    Positions then go through the head one at a time, and only while the drafts before them were accepted:
    when the first draft is wrong, one position is projected, as in a plain greedy step.
    """
    import torch

    q = len(drafts) + 1
    # The shared layers' cache already holds these q tokens, the upper layers' does not, so the model would
    # size its causal mask from the wrong layer: pass the 4D mask of the upper layers (query i at position
    # start+i sees keys 0..start+i), which it uses as given.
    mask = torch.ones(q, start + q, dtype=torch.bool, device=lm.device).tril(diagonal=start)[None, None]
    positions = torch.arange(start, start + q, device=lm.device)[None, :]
    with layer_stack(p, upper_layers(p, exit_layer, states)):
        normed = p.base(input_ids=_tensor(lm, [pending] + drafts), past_key_values=cache, position_ids=positions,
                        attention_mask=mask, use_cache=True).last_hidden_state
    verified: list[int] = []
    for i in range(q):
        verified.append(int(_head_logits(p, normed[:, i:i + 1])[0, -1].argmax()))
        if i == len(drafts) or drafts[i] != verified[i] or drafts[i] == eos:
            break
    return verified


def adapt(size: int, misses: int, drafted: int, accepted: int, most: int) -> tuple[int, int, int]:
    """The adaptive schedule after a step that drafted ``drafted`` tokens and accepted ``accepted``.

    Returns (drafts for the next step, steps in a row that accepted nothing, plain steps before the next
    speculation): two more drafts after a fully accepted step (at most ``most``), one fewer otherwise (at
    least one); after ``n`` fruitless steps in a row, ``2**n - 1`` plain steps (at most :data:`MAX_PAUSE`).
    """
    size = min(most, size + 2) if accepted == drafted else max(1, size - 1)
    misses = misses + 1 if accepted == 0 else 0
    return size, misses, min(2 ** misses - 1, MAX_PAUSE)


def _crop(cache, length: int) -> None:
    """Keep the first ``length`` tokens in every layer of a DynamicCache."""
    for layer in cache.layers:
        extra = layer.get_seq_length() - length
        if extra > 0:
            layer.crop(-extra)


def _speculate(lm: LoadedModel, p: Parts, prompt_ids: list[int], exit_layer: int, drafts_per_step: int,
               max_new_tokens: int, adaptive: bool, deadline: Deadline) -> tuple[list, list, list, int]:
    """Self-speculative greedy decoding of up to ``max_new_tokens`` tokens after ``prompt_ids``: (new tokens,
    their sources, the speculation steps, the number of plain steps).

    Each step drafts up to ``drafts_per_step`` tokens with the first ``exit_layer`` layers, verifies them
    with the rest (:func:`_verify`), keeps the accepted drafts and the full model's next token, and crops
    the rejected drafts from the cache. With ``adaptive`` the schedule follows the drafts' success
    (:func:`adapt`): fewer drafts after rejections, as transformers' "heuristic" schedule does, and plain
    full-model steps after steps that accepted nothing (1, then 3, 7, ...), until a draft is accepted again.
    """
    import torch

    eos = lm.tokenizer.eos_token_id
    tokens, sources, steps = [], [], []  # new token ids, "draft" or "verifier" per token, Step per speculation
    plain, size, misses, pause = 0, drafts_per_step, 0, 0  # plain steps so far; the adaptive schedule's state
    with torch.inference_mode():
        out = lm.model(input_ids=_tensor(lm, prompt_ids), use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
        pending = int(out.logits[0, -1].argmax())  # the full model's next token, not yet in the cache
        length = len(prompt_ids)  # tokens in every layer's cache
        while pending != eos and len(tokens) < max_new_tokens:
            tokens.append(pending)
            sources.append("verifier")
            if len(tokens) >= max_new_tokens:
                break
            deadline.check("Self-speculative decoding ran past the request's time budget; ask for fewer tokens.")
            if pause:
                out = lm.model(input_ids=_tensor(lm, [pending]), past_key_values=cache, use_cache=True)
                pending, length, pause = int(out.logits[0, -1].argmax()), length + 1, pause - 1
                plain += 1
                continue
            drafts, states = _draft(lm, p, cache, pending, exit_layer, min(size, max_new_tokens - len(tokens)))
            verified = _verify(lm, p, cache, pending, drafts, states, length, exit_layer, eos)
            accepted = accept(drafts, verified, eos)
            steps.append(Step(len(drafts), accepted))
            tokens += drafts[:accepted]
            sources += ["draft"] * accepted
            pending = verified[accepted]
            length += 1 + accepted
            _crop(cache, length)  # drop the rejected drafts from every layer
            if adaptive:
                size, misses, pause = adapt(size, misses, len(drafts), accepted, drafts_per_step)
    return tokens, sources, steps, plain


def self_speculative(prompt: str, model: str | LoadedModel | None = None, exit_layer: int = 8,
                     num_speculations: int = 4, max_new_tokens: int = 64, *, compare: bool = True,
                     adaptive: bool = True, time_budget_s: float | None = None, early_exit: bool = True) -> SpecResult:
    """Self-speculative greedy decoding (draft with E layers, verify with the rest), timed against plain greedy.

    ``adaptive`` (default) drafts fewer tokens after rejections and pauses drafting after steps that accept
    nothing (see :func:`_speculate`), so that drafts that keep failing cost little more than greedy
    decoding; ``num_speculations`` is then the most drafts per step. ``adaptive=False`` drafts
    ``num_speculations`` tokens at every step, as the paper does. The output is the full model's greedy
    output either way. ``time_budget_s``: None runs to the end. ``compare`` times plain greedy decoding too;
    ``early_exit`` (with ``compare``) also decodes with the first E layers alone (``early_exit_text``).
    """
    prompt = check_text(prompt, what="Prompt")
    lm = _model(model)
    p = parts(lm)
    exit_layer, drafts, m = _check(lm, exit_layer, num_speculations, max_new_tokens)
    ids = lm.tokenizer(prompt)["input_ids"][: limits().max_tokens]
    deadline = Deadline(time_budget_s)
    with _model_lock:  # nothing else swaps layers or hooks this model while the two runs are timed
        t0 = time.perf_counter()
        tokens, sources, steps, plain = _speculate(lm, p, ids, exit_layer, drafts, m, adaptive, deadline)
        seconds = time.perf_counter() - t0
        g_ids, g_seconds, early = [], float("nan"), ""
        if compare:
            t0 = time.perf_counter()
            g_ids = greedy(lm, ids, m, deadline=deadline)
            g_seconds = time.perf_counter() - t0
            if early_exit:
                early = lm.tokenizer.decode(greedy(lm, ids, m, layers=exit_layer, deadline=deadline),
                                            skip_special_tokens=True)
    return SpecResult(prompt, tokens, lm.tokenizer.decode(tokens, skip_special_tokens=True), sources, steps,
                      exit_layer, drafts, seconds, g_ids, g_seconds, early, len(p.layers), lm.name, plain)


def transformers_assistant_early_exit(prompt: str, model: str | LoadedModel | None = None, exit_layer: int = 8,
                                      num_speculations: int = 4, max_new_tokens: int = 64) -> tuple[list[int], float]:
    """The same generation through transformers' own generate(assistant_early_exit=E): (ids, seconds)."""
    import torch

    lm = _model(model)
    ids = _tensor(lm, lm.tokenizer(prompt)["input_ids"])
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = lm.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, temperature=None,
                                top_p=None, top_k=None, max_new_tokens=max_new_tokens, assistant_early_exit=exit_layer,
                                num_assistant_tokens=num_speculations, num_assistant_tokens_schedule="constant",
                                pad_token_id=lm.tokenizer.pad_token_id)
    return out[0, ids.shape[1]:].tolist(), time.perf_counter() - t0


# ----- the E x d sweep ("speculation" kind of backends.sweeps) -----------------------------------------
SCHEDULE_NAMES = ("adaptive", "fixed")  # see adapt(); "fixed" drafts d tokens at every step, as the paper does
TIMING_FIELDS = ("seconds", "greedy_seconds", "speedup")  # not comparable across backends or worker counts
MAX_SWEEP_SPECULATIONS = 16


def speculation_items(exits: Sequence[int], specs: Sequence[int]) -> list[dict]:
    """The sweep items of an E x d grid: one ``{"exit_layer": E, "speculations": d}`` per distinct combination."""
    es = sorted({check_count(e, what="Exit layer E", low=1, high=10_000) for e in exits})
    ds = sorted({check_count(d, what="Speculations d", low=1, high=MAX_SWEEP_SPECULATIONS) for d in specs})
    if not es or not ds:
        raise InputError("Give at least one exit layer E and one number of speculations d.")
    return [{"exit_layer": e, "speculations": d} for e in es for d in ds]


def speculation_options(prompt: str, model: str | LoadedModel | None = None, *, max_new_tokens: int = 16,
                        schedule: str = "adaptive") -> dict:
    """The sweep's settings as options (validated; the model by registry name)."""
    if schedule not in SCHEDULE_NAMES:
        raise InputError(f"Schedule: choose one of {', '.join(SCHEDULE_NAMES)}.")
    name = model.name if isinstance(model, LoadedModel) else registry().resolve(model, "early_exit")
    return {"prompt": check_text(prompt, what="Prompt"), "model": name, "schedule": schedule,
            "max_new_tokens": check_count(max_new_tokens, what="New tokens", low=1, high=limits().max_new_tokens)}


def speculate_item(lm: LoadedModel, item: dict, options: dict, time_budget_s: float | None = None) -> dict:
    """One combination: self-speculative decoding against plain greedy, timed in the same call (JSON values).

    ``acceptance`` is None when nothing was drafted. The fields in :data:`TIMING_FIELDS` are wall-clock."""
    r = self_speculative(options["prompt"], lm, exit_layer=item["exit_layer"], num_speculations=item["speculations"],
                         max_new_tokens=options["max_new_tokens"], adaptive=options["schedule"] == "adaptive",
                         time_budget_s=time_budget_s, early_exit=False)
    return {"exit_layer": r.exit_layer, "speculations": r.num_speculations, "drafted": r.drafted,
            "accepted": r.accepted, "acceptance": r.acceptance_rate if r.drafted else None,
            "identical": r.identical, "tokens": len(r.token_ids), "steps": len(r.steps),
            "plain_steps": r.plain_steps, "n_layers": r.n_layers, "seconds": r.seconds,
            "greedy_seconds": r.greedy_seconds, "speedup": r.speedup}


def _sweep_setup(options: dict) -> dict:
    return {"lm": _model(options["model"]), "options": options}


def _sweep_run(state: dict, items: list[dict], seeds: list[int]) -> list[dict]:
    # Greedy decoding draws nothing at random: the per-item seeds are not needed. Each combination has the
    # request budget of one generation (the sweep's own budget stops it between combinations).
    return [speculate_item(state["lm"], it, state["options"], limits().time_budget_s) for it in items]


SWEEP = sweeps.Kind("speculation", _sweep_setup, _sweep_run, models=lambda o: [o["model"]], version="1",
                    defaults=lambda: {k: v for k, v in speculation_options("-").items() if k != "prompt"},
                    required=("prompt",), builder="backends.early_exit.speculation_options(prompt, model)")


@dataclass(frozen=True)
class Sweep:
    """The outcome of an E x d sweep: one row per finished combination, in the order of the grid."""

    rows: list[dict]  # speculate_item's fields
    exits: list[int]
    specs: list[int]
    model: str
    failed: dict[tuple[int, int], str]  # (E, d) -> why (after one retry)
    missing: list[tuple[int, int]]  # combinations not reached (stopped or time cap)
    stopped: str
    seconds: float
    sweep: dict  # SweepResult.summary()

    def speedups(self) -> np.ndarray:
        """(len(exits), len(specs)) speed-ups over plain greedy; NaN where a combination has no result."""
        out = np.full((len(self.exits), len(self.specs)), np.nan)
        for r in self.rows:
            out[self.exits.index(r["exit_layer"]), self.specs.index(r["speculations"])] = r["speedup"]
        return out


def sweep_from(res: "sweeps.SweepResult", items: list[dict], options: dict) -> Sweep:
    key = lambda it: (it["exit_layer"], it["speculations"])  # noqa: E731
    return Sweep([r for r in res.results if r is not None], sorted({it["exit_layer"] for it in items}),
                 sorted({it["speculations"] for it in items}), options["model"],
                 {key(items[i]): m for i, m in res.failed.items()},
                 [key(items[i]) for i in res.missing()],
                 res.stopped, res.seconds, res.summary())


def speculation_sweep(prompt: str, exits: Sequence[int], specs: Sequence[int], model: str | LoadedModel | None = None,
                      *, max_new_tokens: int = 16, schedule: str = "adaptive", backend: str = "local",
                      workers: int = 1, resume: bool = False, progress: Any = None,
                      time_budget_s: float | None = None) -> Sweep:
    """Self-speculative decoding over a grid of exit layers E and speculations d, as the "speculation" sweep.

    Each (E, d) is one item, timed against plain greedy in the same call; ``backend="ray"`` with ``workers``
    spreads them over Ray workers. Acceptance and the identical-to-greedy flag do not depend on the backend;
    the timings do: speed-ups measured while several workers share the cores are not comparable with those
    of a one-worker run. Exit layers are checked against the model's depth here where the model is loaded
    in this process (always in-process); on Ray a worker reports an exit layer out of range as a failed item.
    ``time_budget_s``/Stop keep the finished combinations (``missing`` lists the others).
    """
    items = speculation_items(exits, specs)
    options = speculation_options(prompt, model, max_new_tokens=max_new_tokens, schedule=schedule)
    local = {"lm": model, "options": options} if isinstance(model, LoadedModel) else None
    reg = registry()
    if local is not None or backend == "local" or reg.is_loaded(options["model"]):
        lm = model if isinstance(model, LoadedModel) else reg.get(options["model"])
        n = lm.model.config.get_text_config().num_hidden_layers
        for it in items:
            check_count(it["exit_layer"], what="Exit layer E", low=1, high=n - 1)
    res = sweeps.run_sweep("speculation", items, options, backend=backend, workers=workers, resume=resume,
                           time_budget_s=time_budget_s, progress=progress, local_state=local)
    return sweep_from(res, items, options)
