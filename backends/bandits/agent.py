"""The LLM agent: a language model plays the paper's prompt designs round by round.

Answer-only designs with output 0 or 1 read the model's next-token distribution after '<Answer>',
restricted to the arm labels' first tokens: one forward pass per decision, reusing the KV cache of the
prompt prefix that did not change since the previous round (:class:`backends.decoding.PrefixCache`).
Designs that generate (chain-of-thought, or a distribution output) decode all replicates of a round as
one batch (:func:`backends.decoding.decode`) and parse the text.

The model is resolved once, at the entry points (:func:`run_llm`, :func:`run_many`), and passed down.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from backends.bandits.instances import Instance, Runs, agent_rng, check_run_size, reward_table, run_baseline
from backends.bandits.prompts import PromptCode, parse_choice, parse_code, parse_distribution, render_prompt
from backends.cache import Memo
from backends.config import InputError, check_count, limits
from backends.decoding import Deadline, PrefixCache, chat_text, decode

if TYPE_CHECKING:
    from backends.models import LoadedModel

ProgressFn = Callable[[float, str], None]
ANSWER_TAG = "<Answer>"
DISTRIBUTION_TOKENS = 48  # token limit of an answer-only distribution (output D without reasoning)


class Cancelled(InputError):
    """The user stopped the run."""


@dataclass(frozen=True)
class Estimate:
    seconds: float
    decisions: int
    detail: str


@dataclass(frozen=True)
class Decision:
    """One replicate's move in one round."""

    arm: int
    answer: str  # the model's raw answer, or the label distribution it was read from
    parse: str  # "ok" | "lenient" | "fallback"
    probs: list[float]  # the distribution the arm was drawn from


def chat_model(model: "str | LoadedModel | None" = None) -> "LoadedModel":
    """The model an agent plays with: a loaded model as given, else a registry name (None: the chat slot)."""
    from backends.models import LoadedModel, get_model

    return model if isinstance(model, LoadedModel) else get_model(model, slot="chat")


def prompt_ids(lm: "LoadedModel", msgs: dict[str, str], prefill: str = "") -> list[int]:
    """Token ids of one round's system and user messages as the model sees them, ending with ``prefill``.

    A chat model gets its template; a base model the plain transcript "{system}\\n\\n{user}\\n\\nAnswer: ".
    The text already holds whatever special tokens it needs, so none are added.
    """
    text = chat_text(lm, msgs["user"], system=msgs["system"], prefill=prefill)
    return list(lm.tokenizer(text, add_special_tokens=False)["input_ids"])


def label_token_ids(lm: "LoadedModel", labels: Sequence[str]) -> list[int]:
    """The first token of each label as it follows '<Answer>'; they must be distinct."""
    tok = lm.tokenizer
    base = tok(ANSWER_TAG, add_special_tokens=False)["input_ids"]
    ids = []
    for lab in labels:
        full = tok(ANSWER_TAG + lab, add_special_tokens=False)["input_ids"]
        if full[: len(base)] != base or len(full) == len(base):
            raise InputError(f"Model {lm.name}'s tokenizer does not split '<Answer>{lab}' after the tag; "
                             "choose another model for answer-only prompts.")
        ids.append(full[len(base)])
    if len(set(ids)) != len(ids):
        raise InputError(f"Two arm labels start with the same token for model {lm.name}; use fewer arms "
                         "or the other scenario.")
    return ids


# ----- cost estimates -------------------------------------------------------------------------------

_SPEED: Memo[str, tuple[float, float]] = Memo(size=16)


def model_speed(lm: "LoadedModel") -> tuple[float, float]:
    """Measured seconds per prompt token (one forward) and per generated token, probed once per model."""
    return _SPEED.get_or_build(lm.name, lambda: _probe_speed(lm))


def _probe_speed(lm: "LoadedModel") -> tuple[float, float]:
    import torch

    ids = torch.tensor([lm.tokenizer("word " * 200)["input_ids"][:200]], device=lm.device)
    with torch.inference_mode():
        lm.model(input_ids=ids[:, :8])  # warm-up
        t0 = time.perf_counter()
        out = lm.model(input_ids=ids, use_cache=True)
        fwd = (time.perf_counter() - t0) / ids.shape[1]
        cache, nxt = out.past_key_values, ids[:, -1:]
        t0 = time.perf_counter()
        for _ in range(6):
            cache = lm.model(input_ids=nxt, past_key_values=cache, use_cache=True).past_key_values
        step = (time.perf_counter() - t0) / 6
    return fwd, step


def estimate_cost(code: str, inst: Instance, horizon: int, replicates: int, lm: "LoadedModel", *,
                  max_reasoning_tokens: int = 96) -> Estimate:
    """A rough run time for one LLM configuration, from a quick speed probe of the model."""
    pc = parse_code(code)
    fwd, step = model_speed(lm)
    per_round = 14 if pc.history == "R" else 0
    base = 160 + 12 * inst.k + (22 * inst.k if pc.history == "S" else 0)
    mean_len = base + per_round * horizon / 2
    decisions = horizon * replicates
    if not pc.generates:  # cached forward of the tokens that changed since last round
        new = 40 + (22 * inst.k if pc.history == "S" else per_round)
        sec = replicates * (base * fwd + horizon * (0.01 + new * fwd))
        detail = f"{decisions} decisions, one cached forward each"
    else:
        gen = max_reasoning_tokens if pc.reasoning != "N" else DISTRIBUTION_TOKENS
        sec = horizon * (replicates * mean_len * fwd + gen * step * (1 + 0.15 * (replicates - 1)))
        detail = f"{decisions} decisions, up to {gen} generated tokens each, replicates decoded as one batch"
    return Estimate(float(sec), decisions, detail)


def _deadline(pc: PromptCode, inst: Instance, horizon: int, replicates: int, lm: "LoadedModel",
              max_reasoning_tokens: int, time_cap_s: float | None) -> Deadline:
    """No deadline without a cap; with one, refuse a run whose estimate exceeds it before it starts."""
    if time_cap_s is None:
        return Deadline(None)
    cap = float(time_cap_s)
    est = estimate_cost(pc.code, inst, horizon, replicates, lm, max_reasoning_tokens=max_reasoning_tokens)
    if est.seconds > cap:
        raise InputError(f"{pc.code} with T = {horizon} and N = {replicates} on {lm.name} would take about "
                         f"{est.seconds / 60:.1f} minutes ({est.detail}); the cap is {cap / 60:.0f} minutes. "
                         "Lower T or N (or the reasoning token limit).")
    return Deadline(cap)


# ----- one round's decisions ------------------------------------------------------------------------


def _answer_only(lm: "LoadedModel", pc: PromptCode, labels: Sequence[str], label_ids: list[int],
                 caches: list[PrefixCache], msgs: list[dict[str, str]],
                 rngs: list[np.random.Generator]) -> list[Decision]:
    """Each replicate's arm from the label distribution after '<Answer>': argmax at temperature 0, a draw at 1."""
    out = []
    for r, m in enumerate(msgs):
        logits = caches[r].next_logits(prompt_ids(lm, m, ANSWER_TAG))[label_ids]
        if pc.temperature == 0:
            arm = int(logits.argmax())
            p = np.zeros(len(labels))
            p[arm] = 1.0
        else:
            p = np.asarray(logits.softmax(-1).double())
            p = p / p.sum()
            arm = int(rngs[r].choice(len(labels), p=p))
        full = logits.softmax(-1).tolist()
        answer = ", ".join(f"{lab}:{q:.3f}" for lab, q in zip(labels, full))
        out.append(Decision(arm, answer, "ok", [float(x) for x in p]))
    return out


def _generated(lm: "LoadedModel", pc: PromptCode, labels: Sequence[str], msgs: list[dict[str, str]],
               rngs: list[np.random.Generator], max_new_tokens: int, generator) -> list[Decision]:
    """Every replicate's answer decoded as one batch (greedy, or sampled from ``generator``), then parsed;
    an unparseable answer falls back to a uniformly random arm."""
    prefill = ANSWER_TAG if pc.reasoning == "N" else ""
    ids = [prompt_ids(lm, m, prefill) for m in msgs]
    decoded = decode(lm, ids, max_new_tokens, sample=pc.temperature > 0, temperature=pc.temperature,
                     generator=generator)
    out = []
    uniform = np.full(len(labels), 1.0 / len(labels))
    for r, text in enumerate(lm.tokenizer.batch_decode(decoded.ids, skip_special_tokens=True)):
        answer = prefill + text
        if pc.output == "D":
            dist, how = parse_distribution(answer, labels)
            p = dist if dist is not None else uniform
            arm = int(rngs[r].choice(len(labels), p=p))
        else:
            choice, how = parse_choice(answer, labels)
            p = uniform
            if choice is None:
                arm = int(rngs[r].integers(len(labels)))
            else:
                arm = choice
                p = np.eye(len(labels))[arm]
        out.append(Decision(arm, answer, how, [float(x) for x in p]))
    return out


# ----- runs -----------------------------------------------------------------------------------------


def run_llm(code: str, inst: Instance, *, horizon: int = 100, replicates: int = 10,
            model: "str | LoadedModel | None" = None, seed: int = 0, max_reasoning_tokens: int = 96,
            reuse_cache: bool = True, progress: ProgressFn | None = None, time_cap_s: float | None = None,
            should_stop: Callable[[], bool] | None = None) -> Runs:
    """Run the LLM agent with prompt design ``code`` for N replicates of T rounds.

    ``model``: a registry name, a loaded model, or None for the chat slot. Answer-only designs with
    output 0 or 1 read the model's next-token distribution after '<Answer>', restricted to the arm
    labels' first tokens (argmax at temperature 0, a sample at temperature 1); the prompt prefix shared
    with the previous round is not re-encoded (``reuse_cache``). Designs that generate
    (chain-of-thought, or a distribution output) decode all replicates of a round as one batch, sampled
    at temperature 1 from a generator seeded by ``seed`` and the round, and parse the answer;
    unparseable answers fall back to a uniformly random arm and are counted in ``Runs.parse``.

    ``time_cap_s=None`` (the default) runs to the end. With a cap, the run is refused before it starts
    when its estimated time exceeds the cap, and stops with an error if it runs past it (the app passes
    its cap on long runs). ``should_stop`` is polled every round; when it returns true the run raises
    :class:`Cancelled`.
    """
    pc = parse_code(code)
    horizon, replicates = check_run_size(horizon, replicates, 100)
    seed = check_count(seed, what="Seed", low=0, high=2**63 - 1)
    max_reasoning_tokens = check_count(max_reasoning_tokens, what="Reasoning token limit", low=8,
                                       high=limits().max_new_tokens)
    lm = chat_model(model)
    deadline = _deadline(pc, inst, horizon, replicates, lm, max_reasoning_tokens, time_cap_s)
    labels = pc.labels(inst.k)
    table = reward_table(inst, horizon, replicates, seed)
    rngs = [agent_rng(seed, pc.code, r) for r in range(replicates)]
    histories: list[list[tuple[int, int]]] = [[] for _ in range(replicates)]
    runs = Runs(f"LLM {pc.code}", inst, np.zeros((replicates, horizon), dtype=np.int64),
                np.zeros((replicates, horizon), dtype=np.int8), seed, kind="llm", code=pc.code, model=lm.name,
                prompts=[[] for _ in range(replicates)], answers=[[] for _ in range(replicates)],
                parse=[[] for _ in range(replicates)], probs=[[] for _ in range(replicates)])
    t0 = time.perf_counter()
    if pc.generates:
        import torch

        gen = torch.Generator(device="cpu")
        max_new = max_reasoning_tokens if pc.reasoning != "N" else DISTRIBUTION_TOKENS
    else:
        label_ids = label_token_ids(lm, labels)
        caches = [PrefixCache(lm, reuse_cache) for _ in range(replicates)]
    for t in range(horizon):
        if should_stop is not None and should_stop():
            raise Cancelled(f"Stopped at round {t + 1} of {horizon}.")
        if deadline.expired:
            deadline.check(f"The run passed its {deadline.seconds / 60:.0f}-minute cap at round {t + 1} of "
                           f"{horizon}; lower T or N.")
        msgs = [render_prompt(pc, inst.k, horizon, histories[r]) for r in range(replicates)]
        if pc.generates:
            gen.manual_seed((int(seed) * 1_000_003 + t) % 2**63)
            decisions = _generated(lm, pc, labels, msgs, rngs, max_new, gen)
        else:
            decisions = _answer_only(lm, pc, labels, label_ids, caches, msgs, rngs)
        for r, d in enumerate(decisions):
            _record(runs, histories, table, msgs[r], r, t, d)
        if progress:
            progress((t + 1) / horizon, f"{pc.code}: round {t + 1}/{horizon} of {replicates} replicates")
    runs.seconds = time.perf_counter() - t0
    if not pc.generates:
        runs.tokens_run = sum(c.tokens_run for c in caches)
    return runs


def _record(runs: Runs, histories: list[list[tuple[int, int]]], table: np.ndarray, msgs: dict[str, str],
            r: int, t: int, d: Decision) -> None:
    reward = int(table[r, t, d.arm])
    histories[r].append((d.arm, reward))
    runs.choices[r, t] = d.arm
    runs.rewards[r, t] = reward
    runs.prompts[r].append(msgs)
    runs.answers[r].append(d.answer)
    runs.parse[r].append(d.parse)
    runs.probs[r].append(d.probs)


def run_many(agents: Sequence[str], codes: Sequence[str], inst: Instance, *, horizon: int, replicates: int,
             llm_replicates: int, seed: int = 0, c: float = 1.0, epsilon: float = 0.1,
             model: "str | LoadedModel | None" = None, max_reasoning_tokens: int = 96,
             progress: ProgressFn | None = None, should_stop: Callable[[], bool] | None = None,
             time_cap_s: float | None = None) -> list[Runs]:
    """Baselines and LLM configurations on one instance.

    ``time_cap_s=None`` (the default) runs everything to the end; with a cap (the app passes its cap on
    long runs) the whole batch is refused up front when its estimated time exceeds it, and each LLM
    run stops if it runs past it.
    """
    if not agents and not codes:
        raise InputError("Choose at least one agent: a baseline or an LLM prompt code.")
    codes = list(dict.fromkeys(parse_code(x).code for x in codes))
    if len(codes) > 12:
        raise InputError(f"{len(codes)} prompt codes chosen; run at most 12 at once.")
    horizon, llm_replicates = check_run_size(horizon, llm_replicates, 100)
    lm = chat_model(model) if codes else None
    if lm is not None and time_cap_s is not None:  # refuse the whole batch up front if it cannot finish in time
        total = sum(estimate_cost(x, inst, horizon, llm_replicates, lm,
                                  max_reasoning_tokens=max_reasoning_tokens).seconds for x in codes)
        cap = float(time_cap_s)
        if total > cap:
            raise InputError(f"These {len(codes)} LLM configurations with T = {horizon} and N = {llm_replicates} "
                             f"would take about {total / 60:.1f} minutes on {lm.name}; the cap is {cap / 60:.0f} "
                             "minutes. Lower T or N, or choose fewer prompt codes.")
    out = [run_baseline(a, inst, horizon=horizon, replicates=replicates, seed=seed, c=c, epsilon=epsilon)
           for a in agents]
    for i, code in enumerate(codes):
        sub = (lambda f, m, i=i: progress((i + f) / len(codes), m)) if progress else None
        out.append(run_llm(code, inst, horizon=horizon, replicates=llm_replicates, model=lm, seed=seed,
                           max_reasoning_tokens=max_reasoning_tokens, progress=sub, should_stop=should_stop,
                           time_cap_s=time_cap_s))
    return out
