"""Multi-armed bandits with an LLM in the loop (Krishnamurthy et al. 2024, "Can LLMs explore in-context?").

The environment is a Bernoulli bandit: K arms, arm a pays 1 with probability mu_a; in the paper's
instances the best arm has mu* = 0.5 + Delta/2 and every other arm 0.5 - Delta/2. An agent plays T
rounds and sees only the reward of the arm it chose. Experiments run N independent replicates.

Randomness is drawn from seeds only, so the same seed gives the same run:

* the reward table ``rewards[r, t, a]`` (what arm a would pay in round t of replicate r) comes from
  ``seed`` alone, so every agent run with the same seed faces the same coin flips (common random
  numbers make agents comparable replicate by replicate);
* each agent's own randomness (tie breaks, Thompson draws, sampling the LLM's answer) comes from
  ``seed`` and the agent's name.

Baselines (UCB, Thompson sampling, Greedy, epsilon-greedy) are vectorised over replicates with
numpy. The LLM agent renders the paper's prompt designs, named by a five-letter code (see
:class:`PromptCode`), and decides either from its next-token distribution restricted to the arm
labels (no chain-of-thought: one forward pass, reusing the KV cache of the prompt prefix that did
not change since the previous round) or by generating text that is parsed (chain-of-thought or a
distribution output; replicates are decoded as one batch).

The failure statistics follow the paper's definitions: :func:`failure_stats`.
"""
from __future__ import annotations

import math
import re
import time
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from backends.config import InputError, check_count, check_number, limits
from backends.lm import TimeBudgetError

if TYPE_CHECKING:
    from backends.models import LoadedModel

ProgressFn = Callable[[float, str], None]

MAX_ARMS = 10
BUTTON_LABELS = ("blue", "green", "red", "yellow", "purple", "orange", "brown", "gray", "black", "white")
AD_LABELS = tuple("ABCDEFGHIJ")
INSTANCES = {"hard": (5, 0.2), "easy": (4, 0.5)}
BASELINES = ("ucb", "ts", "greedy", "egreedy")
BASELINE_NAMES = {"ucb": "UCB", "ts": "Thompson sampling", "greedy": "Greedy", "egreedy": "ε-greedy"}


# --------------------------------------------------------------------------------------------
# Instances and runs


@dataclass(frozen=True)
class Instance:
    """A Bernoulli bandit instance: the arms' means, and which arm is best."""

    means: tuple[float, ...]
    name: str = "custom"
    delta: float | None = None  # the gap of a paper-style instance, None for explicit means

    @property
    def k(self) -> int:
        return len(self.means)

    @property
    def best(self) -> int:
        return int(np.argmax(self.means))

    @property
    def best_mean(self) -> float:
        return float(max(self.means))

    def describe(self) -> str:
        gap = f", Δ = {self.delta:g}" if self.delta is not None else ""
        means = ", ".join(f"{m:.3g}" for m in self.means)
        return f"{self.name}: K = {self.k}{gap}; means ({means}); best arm {self.best + 1}"


def make_instance(name: str | None = None, *, k: int | None = None, delta: float | None = None,
                  means: Sequence[float] | None = None, seed: int = 0) -> Instance:
    """A bandit instance: ``"hard"`` (K=5, Δ=0.2), ``"easy"`` (K=4, Δ=0.5), or custom.

    Custom instances take either ``k`` and ``delta`` (best arm 0.5 + Δ/2, the others 0.5 - Δ/2)
    or explicit ``means`` in [0, 1]. For the paper-style instances the best arm's position is drawn
    from ``seed``, so that a model's bias toward the first (or any) label cannot pass for skill.
    """
    seed = check_count(seed, what="Seed", low=0, high=2**63 - 1)
    if means is not None:
        if isinstance(means, (str, bytes)) or not hasattr(means, "__len__"):
            raise InputError("Means must be a list of numbers, e.g. [0.3, 0.5, 0.7].")
        vals = list(means)
        check_count(len(vals), what="Number of arms", low=2, high=MAX_ARMS)
        out = tuple(check_number(m, what=f"Mean of arm {i + 1}", low=0.0, high=1.0) for i, m in enumerate(vals))
        if len(set(out)) == 1:
            raise InputError("All arms have the same mean: there is no best arm to find. Make one arm better.")
        if sorted(out)[-1] == sorted(out)[-2]:
            raise InputError("Two arms share the highest mean: the statistics need a single best arm.")
        return Instance(out, "custom")
    if name is not None and name != "custom":
        if not isinstance(name, str) or name not in INSTANCES:
            raise InputError(f"Unknown instance {str(name)[:30]!r}: choose 'hard', 'easy' or 'custom'.")
        k, delta = INSTANCES[name]
    elif k is None or delta is None:
        raise InputError("A custom instance needs K and Δ, or explicit means.")
    k = check_count(k, what="Number of arms K", low=2, high=MAX_ARMS)
    delta = check_number(delta, what="Gap Δ", low=0.0, high=1.0)
    if delta <= 0:
        raise InputError("Gap Δ must be greater than 0, or no arm is best.")
    best = int(np.random.default_rng([int(seed), 7]).integers(k))
    vals = tuple(0.5 + delta / 2 if a == best else 0.5 - delta / 2 for a in range(k))
    return Instance(vals, name or "custom", float(delta))


def parse_means(text: str) -> list[float]:
    """Means typed as '0.3, 0.5, 0.7' (commas or spaces)."""
    parts = [p for p in re.split(r"[,\s;]+", str(text or "").strip()) if p]
    if not parts:
        raise InputError("Type the arms' means, e.g. '0.3, 0.5, 0.7'.")
    out = []
    for i, p in enumerate(parts):
        try:
            out.append(float(p))
        except ValueError:
            raise InputError(f"Mean {i + 1} ({p[:20]!r}) is not a number.") from None
    return out


def reward_table(inst: Instance, horizon: int, replicates: int, seed: int) -> np.ndarray:
    """rewards[r, t, a]: the reward arm a would pay in round t of replicate r (0 or 1)."""
    rng = np.random.default_rng([int(seed), 0])
    return (rng.random((replicates, horizon, inst.k)) < np.asarray(inst.means)).astype(np.int8)


def _agent_rng(seed: int, agent: str, *extra: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), 1, zlib.crc32(agent.encode()), *extra])


@dataclass
class Runs:
    """The outcome of one agent over N replicates of T rounds."""

    agent: str  # display name
    instance: Instance
    choices: np.ndarray  # (N, T) int: the arm chosen in each round, 0-based
    rewards: np.ndarray  # (N, T) int: the reward received
    seed: int
    seconds: float = 0.0
    kind: str = "baseline"  # "baseline" | "llm"
    code: str | None = None  # the LLM prompt code
    model: str | None = None
    # LLM runs only: per replicate, per round
    prompts: list[list[dict[str, str]]] = field(default_factory=list)  # {"system", "user"}
    answers: list[list[str]] = field(default_factory=list)  # the model's raw answer (or label distribution)
    parse: list[list[str]] = field(default_factory=list)  # "ok" | "lenient" | "fallback"
    probs: list[list[list[float]]] = field(default_factory=list)  # the distribution the arm was drawn from
    tokens_run: int = 0  # answer-only LLM runs: prompt tokens that went through the model

    @property
    def replicates(self) -> int:
        return int(self.choices.shape[0])

    @property
    def horizon(self) -> int:
        return int(self.choices.shape[1])

    def parse_counts(self) -> dict[str, int]:
        flat = [p for rep in self.parse for p in rep]
        return {k: flat.count(k) for k in ("ok", "lenient", "fallback")}


def _check_run_size(horizon: Any, replicates: Any, max_replicates: int) -> tuple[int, int]:
    t = check_count(horizon, what="Horizon T", low=2, high=limits().max_count)
    n = check_count(replicates, what="Replicates N", low=1, high=max_replicates)
    return t, n


# --------------------------------------------------------------------------------------------
# Baselines, vectorised over replicates


def _argmax_random_ties(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise argmax, ties broken uniformly at random."""
    jitter = rng.random(values.shape) * 1e-9
    top = values.max(axis=1, keepdims=True)
    return np.argmax(np.where(values >= top - 1e-12, 1.0 + jitter, 0.0), axis=1)


def run_baseline(agent: str, inst: Instance, *, horizon: int = 100, replicates: int = 1000, seed: int = 0,
                 c: float = 1.0, epsilon: float = 0.1) -> Runs:
    """Run a baseline agent: "ucb", "ts", "greedy" or "egreedy".

    * UCB: play each arm once, then the largest mean reward + sqrt(C / n_a) (C = ``c``).
    * Thompson sampling: Beta(1, 1) prior per arm; draw from each posterior, play the largest.
    * Greedy: play each arm once, then the best empirical mean (no exploration).
    * ε-greedy: like Greedy, but a uniformly random arm with probability ``epsilon``.
    Ties are broken uniformly at random.
    """
    if agent not in BASELINES:
        raise InputError(f"Unknown baseline {agent!r}: choose one of {', '.join(BASELINES)}.")
    horizon, replicates = _check_run_size(horizon, replicates, 100_000)
    seed = check_count(seed, what="Seed", low=0, high=2**63 - 1)
    c = check_number(c, what="UCB constant C", low=0.0, high=100.0)
    epsilon = check_number(epsilon, what="ε", low=0.0, high=1.0)
    t0 = time.perf_counter()
    table = reward_table(inst, horizon, replicates, seed)
    rng = _agent_rng(seed, agent)
    n, k = replicates, inst.k
    pulls = np.zeros((n, k))
    wins = np.zeros((n, k))
    choices = np.zeros((n, horizon), dtype=np.int64)
    rewards = np.zeros((n, horizon), dtype=np.int8)
    rows = np.arange(n)
    for t in range(horizon):
        if agent == "ts":
            arm = np.argmax(rng.beta(1.0 + wins, 1.0 + pulls - wins), axis=1)
        elif t < k:  # UCB, Greedy and ε-greedy start by playing each arm once
            arm = np.full(n, t)
        else:
            means = wins / pulls
            if agent == "ucb":
                arm = _argmax_random_ties(means + np.sqrt(c / pulls), rng)
            else:
                arm = _argmax_random_ties(means, rng)
                if agent == "egreedy":
                    explore = rng.random(n) < epsilon
                    arm = np.where(explore, rng.integers(k, size=n), arm)
        r = table[rows, t, arm]
        pulls[rows, arm] += 1
        wins[rows, arm] += r
        choices[:, t] = arm
        rewards[:, t] = r
    name = BASELINE_NAMES[agent] + (f" (C={c:g})" if agent == "ucb" and c != 1 else "") + (
        f" (ε={epsilon:g})" if agent == "egreedy" else "")
    return Runs(name, inst, choices, rewards, seed, time.perf_counter() - t0)


# --------------------------------------------------------------------------------------------
# Failure statistics


@dataclass(frozen=True)
class Stats:
    agent: str
    suff_fail_freq: float  # SuffFailFreq(T/2)
    k_min_frac: float  # K * MinFrac(T)
    greedy_frac: float
    median_reward: float
    mean_reward: float
    best_arm_frac: float  # fraction of all rounds on the best arm
    final_regret: float  # mean cumulative (pseudo-)regret at T
    t_half: int  # the t at which SuffFailFreq is reported
    # curves over t = 1..T (index t-1)
    suff_fail_curve: np.ndarray
    k_min_frac_curve: np.ndarray
    regret_mean: np.ndarray
    regret_lo: np.ndarray  # 10th percentile over replicates
    regret_hi: np.ndarray  # 90th percentile
    best_frac_curve: np.ndarray  # mean over replicates of the fraction of rounds 1..t on the best arm
    reward_mean: np.ndarray  # mean cumulative reward
    reward_lo: np.ndarray
    reward_hi: np.ndarray

    def row(self) -> dict[str, Any]:
        return {"agent": self.agent, f"SuffFailFreq(T/2={self.t_half})": round(self.suff_fail_freq, 4),
                "K*MinFrac(T)": round(self.k_min_frac, 4), "GreedyFrac": round(self.greedy_frac, 4),
                "MedianReward": round(self.median_reward, 4), "best-arm fraction": round(self.best_arm_frac, 4),
                "regret at T": round(self.final_regret, 3)}


def suffix_failure(choices: np.ndarray, best: int) -> np.ndarray:
    """SuffFail(t, R) for t = 1..T: 1 if the best arm is never chosen in rounds t..T. Shape (N, T)."""
    hit = choices == best
    # any best-arm pull in rounds t..T, computed as a reversed cumulative OR
    later = np.flip(np.maximum.accumulate(np.flip(hit, axis=1), axis=1), axis=1)
    return (~later).astype(float)


def min_fraction(choices: np.ndarray, k: int) -> np.ndarray:
    """MinFrac(t, R) for t = 1..T: the smallest fraction of rounds 1..t spent on any arm. (N, T)."""
    onehot = choices[:, :, None] == np.arange(k)[None, None, :]
    counts = np.cumsum(onehot, axis=1)  # (N, T, K)
    t = np.arange(1, choices.shape[1] + 1)[None, :]
    return counts.min(axis=2) / t


def greedy_fraction(choices: np.ndarray, rewards: np.ndarray, k: int) -> np.ndarray:
    """Per replicate: the fraction of rounds (from the second on) in which the chosen arm had the
    best empirical mean so far among the arms tried so far. Shape (N,)."""
    n, horizon = choices.shape
    if horizon < 2:
        return np.full(n, np.nan)
    onehot = (choices[:, :, None] == np.arange(k)[None, None, :]).astype(float)
    pulls = np.cumsum(onehot, axis=1)
    wins = np.cumsum(onehot * rewards[:, :, None], axis=1)
    # state before round t (t = 1..T-1, 0-based): counts over rounds 0..t-1
    pulls_b, wins_b = pulls[:, :-1], wins[:, :-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(pulls_b > 0, wins_b / np.maximum(pulls_b, 1), -np.inf)
    best_means = means.max(axis=2)
    chosen = np.take_along_axis(means, choices[:, 1:, None], axis=2)[:, :, 0]
    is_greedy = (chosen >= best_means - 1e-12) & np.isfinite(chosen)
    return is_greedy.mean(axis=1)


def failure_stats(runs: Runs, t_half: int | None = None) -> Stats:
    """The paper's statistics for one agent's runs.

    * SuffFailFreq(t): mean over replicates of SuffFail(t, R), reported at t = T/2.
    * K*MinFrac(t): K times the mean over replicates of MinFrac(t, R), reported at t = T.
    * GreedyFrac: mean over replicates of the fraction of rounds on an arm with the best empirical mean so far.
    * MedianReward: median over replicates of the average reward per round.
    Also cumulative pseudo-regret (sum of mu* - mu of the chosen arm) and best-arm fractions over time.
    """
    ch, rw, inst = runs.choices, runs.rewards, runs.instance
    horizon = ch.shape[1]
    t_half = max(1, horizon // 2) if t_half is None else int(t_half)
    sf = suffix_failure(ch, inst.best).mean(axis=0)
    kmf = inst.k * min_fraction(ch, inst.k).mean(axis=0)
    gaps = inst.best_mean - np.asarray(inst.means)[ch]
    regret = np.cumsum(gaps, axis=1)
    cumrew = np.cumsum(rw, axis=1)
    on_best = np.cumsum(ch == inst.best, axis=1) / np.arange(1, horizon + 1)[None, :]
    avg_reward = rw.mean(axis=1)
    return Stats(
        agent=runs.agent, suff_fail_freq=float(sf[t_half - 1]), k_min_frac=float(kmf[-1]),
        greedy_frac=float(np.nanmean(greedy_fraction(ch, rw, inst.k))), median_reward=float(np.median(avg_reward)),
        mean_reward=float(avg_reward.mean()), best_arm_frac=float(on_best[:, -1].mean()),
        final_regret=float(regret[:, -1].mean()), t_half=t_half, suff_fail_curve=sf, k_min_frac_curve=kmf,
        regret_mean=regret.mean(axis=0), regret_lo=np.percentile(regret, 10, axis=0),
        regret_hi=np.percentile(regret, 90, axis=0), best_frac_curve=on_best.mean(axis=0),
        reward_mean=cumrew.mean(axis=0), reward_lo=np.percentile(cumrew, 10, axis=0),
        reward_hi=np.percentile(cumrew, 90, axis=0),
    )


# --------------------------------------------------------------------------------------------
# Prompt designs


@dataclass(frozen=True)
class PromptCode:
    """The five-letter prompt design code, e.g. BNRN0 or BSSC~0.

    scenario B (buttons) / A (advertisements); framing N (neutral) / S (suggestive: hints at the
    explore-exploit trade-off); history R (raw list of rounds) / S (summary per arm); reasoning N
    (answer only) / C (chain-of-thought) / C~ (chain-of-thought, reinforced in the user message);
    output 0 (temperature 0) / 1 (temperature 1) / D (a distribution over arms at temperature 0,
    from which the arm is sampled).
    """

    scenario: str
    framing: str
    history: str
    reasoning: str
    output: str

    @property
    def code(self) -> str:
        return f"{self.scenario}{self.framing}{self.history}{self.reasoning}{self.output}"

    @property
    def generates(self) -> bool:
        """Does this design need the model to write text (reasoning or a distribution)?"""
        return self.reasoning != "N" or self.output == "D"

    @property
    def temperature(self) -> float:
        return 1.0 if self.output == "1" else 0.0

    def labels(self, k: int) -> tuple[str, ...]:
        return (BUTTON_LABELS if self.scenario == "B" else AD_LABELS)[:k]


CODE_RE = re.compile(r"^([BA])([NS])([RS])(C~|C|N)([01D])$")


def parse_code(code: str) -> PromptCode:
    m = CODE_RE.match(str(code or "").strip().upper().replace("~", "~"))
    if not m:
        raise InputError(
            f"Unknown prompt code {str(code)[:40]!r}. A code has five parts: scenario B/A, framing N/S, history R/S, "
            "reasoning N/C/C~, output 0/1/D; for example BNRN0 or BSSC~0.")
    return PromptCode(*m.groups())


def all_codes() -> list[str]:
    return [f"{a}{b}{c}{d}{e}" for a in "BA" for b in "NS" for c in "RS" for d in ("N", "C", "C~") for e in "01D"]


def render_prompt(code: str | PromptCode, k: int, horizon: int,
                  history: Sequence[tuple[int, int]] = ()) -> dict[str, str]:
    """The system and user messages of one round, given the history so far as (arm, reward) pairs."""
    pc = code if isinstance(code, PromptCode) else parse_code(code)
    k = check_count(k, what="Number of arms K", low=2, high=MAX_ARMS)
    horizon = check_count(horizon, what="Horizon T", low=1, high=10**6)
    try:
        history = [(int(a), int(r)) for a, r in history]
    except (TypeError, ValueError):
        raise InputError("History must be a list of (arm, reward) pairs.") from None
    if len(history) >= horizon or any(not 0 <= a < k or r not in (0, 1) for a, r in history):
        raise InputError("History must hold fewer than T rounds of (arm in 0..K-1, reward 0 or 1).")
    labels = pc.labels(k)
    names = ", ".join(labels)
    if pc.scenario == "B":
        noun = "button"
        system = (f"You are in a room with {k} buttons, labelled {names}. Each press of a button pays a reward of 1 "
                  f"or 0 at random; every button has its own fixed chance of paying 1, and you do not know these "
                  f"chances. You will press one button in each of {horizon} rounds. Your goal is to collect as "
                  f"much total reward as you can.")
    else:
        noun = "advertisement"
        system = (f"You are a recommendation system choosing which advertisement to show each visitor of a web "
                  f"page. There are {k} advertisements, labelled {names}. A visitor either clicks the advertisement "
                  f"shown (reward 1) or does not (reward 0); every advertisement has its own fixed click "
                  f"probability, which you do not know. {horizon} visitors will arrive one after another. Your goal "
                  f"is to collect as many clicks as you can.")
    if pc.framing == "S":
        system += (" You are acting as a bandit algorithm, so keep the trade-off in mind: explore the "
                   f"{noun}s you know little about, and exploit the {noun} that has done best so far.")
    if pc.output == "D":
        fmt = (f"a probability for every {noun}, the probabilities summing to 1, in the form "
               f"<Answer>{labels[0]}:p, {labels[1]}:p, ...</Answer> with each p a number")
        drawn = f" Your {noun} is then drawn at random from the distribution you give."
    else:
        fmt = f"the label of one {noun} in the form <Answer>{labels[0]}</Answer>"
        drawn = ""
    if pc.reasoning == "N":
        system += f" In each round, reply only with {fmt}.{drawn}"
    else:
        system += f" In each round, think step by step about what to do, then end your reply with {fmt}.{drawn}"

    t = len(history) + 1
    total = sum(r for _, r in history)
    # The round number and total come after the history, so that with a raw history each round's
    # prompt extends the previous one and the KV cache of the shared prefix can be reused.
    lines = []
    if not history:
        lines.append("No rounds have been played yet.")
    elif pc.history == "R":
        lines.append(f"Your history so far (round: {noun}, reward):")
        lines += [f"{i + 1}: {labels[a]}, {r}" for i, (a, r) in enumerate(history)]
    else:
        counts = np.zeros(k, dtype=int)
        wins = np.zeros(k, dtype=int)
        for a, r in history:
            counts[a] += 1
            wins[a] += r
        lines.append(f"Summary of each {noun} so far:")
        for a in range(k):
            done = "shown" if pc.scenario == "A" else "pressed"
            times = f"{counts[a]} time{'s' if counts[a] != 1 else ''}"
            if counts[a]:
                lines.append(f"{labels[a]}: {done} {times}, average reward {wins[a] / counts[a]:.2f}")
            else:
                lines.append(f"{labels[a]}: {done} {times}")
    lines.append(f"This is round {t} of {horizon}; your total reward so far is {total}. "
                 f"Which {noun} do you choose in round {t}?")
    if pc.reasoning == "C~":
        lines.append(f"Remember to think step by step first, and then end with {fmt}.")
    return {"system": system, "user": "\n".join(lines)}


# --------------------------------------------------------------------------------------------
# Reading the model's answers


ANSWER_RE = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.IGNORECASE | re.DOTALL)


def _label_positions(text: str, labels: Sequence[str]) -> list[tuple[int, int]]:
    """(position, arm) of every whole-word label mention in text."""
    found = []
    for a, lab in enumerate(labels):
        for m in re.finditer(rf"(?<![A-Za-z]){re.escape(lab)}(?![A-Za-z])", text, flags=0 if len(lab) == 1 else re.I):
            found.append((m.start(), a))
    return sorted(found)


def parse_choice(text: str, labels: Sequence[str]) -> tuple[int | None, str]:
    """The arm named in an answer: inside the last <Answer> tag ("ok"), else the last label
    mentioned anywhere ("lenient"), else None ("fallback")."""
    tags = ANSWER_RE.findall(text)
    if tags:
        hits = _label_positions(tags[-1], labels)
        if hits:
            return hits[0][1], "ok"
    hits = _label_positions(text, labels)
    if hits:
        return hits[-1][1], "lenient"
    return None, "fallback"


def parse_distribution(text: str, labels: Sequence[str]) -> tuple[np.ndarray | None, str]:
    """A distribution 'label:p, label:p' from the last <Answer> tag (or anywhere, "lenient");
    normalised to sum 1. Percentages are accepted."""
    def pairs(s: str) -> np.ndarray | None:
        p = np.zeros(len(labels))
        hit = False
        for a, lab in enumerate(labels):
            m = re.search(rf"(?<![A-Za-z]){re.escape(lab)}(?![A-Za-z])\s*[:=]\s*([0-9]*\.?[0-9]+)\s*(%?)", s,
                          flags=0 if len(lab) == 1 else re.I)
            if m:
                v = float(m.group(1)) / (100.0 if m.group(2) else 1.0)
                if math.isfinite(v) and v >= 0:
                    p[a] = v
                    hit = True
        return p / p.sum() if hit and p.sum() > 0 else None

    tags = ANSWER_RE.findall(text)
    if tags and (p := pairs(tags[-1])) is not None:
        return p, "ok"
    if (p := pairs(text)) is not None:
        return p, "lenient"
    return None, "fallback"


# --------------------------------------------------------------------------------------------
# The LLM agent


def _chat_text(lm: "LoadedModel", msgs: dict[str, str], prefill: str) -> str:
    tok = lm.tokenizer
    conv = [{"role": "system", "content": msgs["system"]}, {"role": "user", "content": msgs["user"]}]
    if getattr(tok, "chat_template", None):
        text = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
    else:  # a base model: a plain transcript
        text = f"{msgs['system']}\n\n{msgs['user']}\n\nAnswer: "
    return text + prefill


def label_token_ids(lm: "LoadedModel", labels: Sequence[str]) -> list[int]:
    """The first token of each label as it follows '<Answer>'; they must be distinct."""
    tok = lm.tokenizer
    base = tok("<Answer>", add_special_tokens=False)["input_ids"]
    ids = []
    for lab in labels:
        full = tok("<Answer>" + lab, add_special_tokens=False)["input_ids"]
        if full[: len(base)] != base or len(full) == len(base):
            raise InputError(f"Model {lm.name}'s tokenizer does not split '<Answer>{lab}' after the tag; "
                             "choose another model for answer-only prompts.")
        ids.append(full[len(base)])
    if len(set(ids)) != len(ids):
        raise InputError(f"Two arm labels start with the same token for model {lm.name}; use fewer arms "
                         "or the other scenario.")
    return ids


class PrefixCache:
    """One replicate's KV cache, kept across rounds: each round only the tokens after the longest
    prefix shared with the previous round's prompt are run through the model."""

    def __init__(self, lm: "LoadedModel", reuse: bool = True):
        self.lm, self.reuse = lm, reuse
        self.ids: list[int] = []
        self.cache: Any = None
        self.tokens_run = 0  # how many tokens went through the model (for the benchmark)

    def next_logits(self, ids: list[int]):
        import torch

        common = 0
        if self.reuse and self.cache is not None:
            limit = min(len(ids) - 1, len(self.ids))  # always run at least the last token
            while common < limit and ids[common] == self.ids[common]:
                common += 1
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
        self.ids = list(ids)
        self.tokens_run += len(ids) - common
        return out.logits[0, -1].float().cpu()


class Cancelled(InputError):
    """The user stopped the run."""


@dataclass(frozen=True)
class Estimate:
    seconds: float
    decisions: int
    detail: str


_SPEED: dict[str, tuple[float, float]] = {}


def _speed(lm: "LoadedModel") -> tuple[float, float]:
    """Measured seconds per prompt token (one forward) and per generated token, for cost estimates."""
    if lm.name in _SPEED:
        return _SPEED[lm.name]
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
    _SPEED[lm.name] = (fwd, step)
    return fwd, step


def estimate_cost(code: str, inst: Instance, horizon: int, replicates: int, lm: "LoadedModel", *,
                  max_reasoning_tokens: int = 96) -> Estimate:
    """A rough run time for one LLM configuration, from a quick speed probe of the model."""
    pc = parse_code(code)
    fwd, step = _speed(lm)
    per_round = 14 if pc.history == "R" else 0
    base = 160 + 12 * inst.k + (22 * inst.k if pc.history == "S" else 0)
    mean_len = base + per_round * horizon / 2
    decisions = horizon * replicates
    if not pc.generates:  # cached forward of the tokens that changed since last round
        new = 40 + (22 * inst.k if pc.history == "S" else per_round)
        sec = replicates * (base * fwd + horizon * (0.01 + new * fwd))
        detail = f"{decisions} decisions, one cached forward each"
    else:
        gen = max_reasoning_tokens if pc.reasoning != "N" else 48
        sec = horizon * (replicates * mean_len * fwd + gen * step * (1 + 0.15 * (replicates - 1)))
        detail = f"{decisions} decisions, up to {gen} generated tokens each, replicates decoded as one batch"
    return Estimate(float(sec), decisions, detail)


def run_llm(code: str, inst: Instance, *, horizon: int = 100, replicates: int = 10, model: str | None = None,
            seed: int = 0, max_reasoning_tokens: int = 96, reuse_cache: bool = True,
            progress: ProgressFn | None = None, time_cap_s: float | None = None,
            should_stop: Callable[[], bool] | None = None) -> Runs:
    """Run the LLM agent with prompt design ``code`` for N replicates of T rounds.

    Answer-only designs with output 0 or 1 read the model's next-token distribution after
    '<Answer>', restricted to the arm labels' first tokens (argmax at temperature 0, a sample at
    temperature 1); the prompt prefix shared with the previous round is not re-encoded
    (``reuse_cache``). Designs that generate (chain-of-thought, or a distribution output) decode
    all replicates of a round as one batch and parse the answer; unparseable answers fall back to
    a uniformly random arm and are counted in ``Runs.parse``.

    The run is refused before it starts when its estimated time exceeds ``time_cap_s`` (default:
    the configured cap on long runs), and stops with an error if it runs past that cap.
    ``should_stop`` is polled every round; when it returns true the run raises :class:`Cancelled`.
    """
    from backends.models import get_model

    pc = parse_code(code)
    horizon, replicates = _check_run_size(horizon, replicates, 100)
    seed = check_count(seed, what="Seed", low=0, high=2**63 - 1)
    max_reasoning_tokens = check_count(max_reasoning_tokens, what="Reasoning token limit", low=8,
                                       high=limits().max_new_tokens)
    lm = get_model(model, slot="chat")
    cap = limits().max_run_s if time_cap_s is None else float(time_cap_s)
    est = estimate_cost(code, inst, horizon, replicates, lm, max_reasoning_tokens=max_reasoning_tokens)
    if est.seconds > cap:
        raise InputError(f"{pc.code} with T = {horizon} and N = {replicates} on {lm.name} would take about "
                         f"{est.seconds / 60:.1f} minutes ({est.detail}); the cap is {cap / 60:.0f} minutes. "
                         "Lower T or N (or the reasoning token limit).")
    deadline = time.monotonic() + cap
    labels = pc.labels(inst.k)
    table = reward_table(inst, horizon, replicates, seed)
    rngs = [_agent_rng(seed, pc.code, r) for r in range(replicates)]
    histories: list[list[tuple[int, int]]] = [[] for _ in range(replicates)]
    runs = Runs(f"LLM {pc.code}", inst, np.zeros((replicates, horizon), dtype=np.int64),
                np.zeros((replicates, horizon), dtype=np.int8), seed, kind="llm", code=pc.code, model=lm.name,
                prompts=[[] for _ in range(replicates)], answers=[[] for _ in range(replicates)],
                parse=[[] for _ in range(replicates)], probs=[[] for _ in range(replicates)])
    t0 = time.perf_counter()
    if pc.generates:
        import torch

        gen = torch.Generator(device="cpu")
    else:
        label_ids = label_token_ids(lm, labels)
        caches = [PrefixCache(lm, reuse_cache) for _ in range(replicates)]
    for t in range(horizon):
        if should_stop is not None and should_stop():
            raise Cancelled(f"Stopped at round {t + 1} of {horizon}.")
        if time.monotonic() > deadline:
            raise TimeBudgetError(f"The run passed its {cap / 60:.0f}-minute cap at round {t + 1} of {horizon}; "
                                  "lower T or N.")
        msgs = [render_prompt(pc, inst.k, horizon, histories[r]) for r in range(replicates)]
        if not pc.generates:
            for r in range(replicates):
                ids = lm.tokenizer(_chat_text(lm, msgs[r], "<Answer>"), add_special_tokens=False)["input_ids"]
                logits = caches[r].next_logits(ids)[label_ids]
                if pc.temperature == 0:
                    p = np.zeros(len(labels))
                    p[int(logits.argmax())] = 1.0
                    arm = int(logits.argmax())
                else:
                    p = np.asarray(logits.softmax(-1).double())
                    p = p / p.sum()
                    arm = int(rngs[r].choice(len(labels), p=p))
                full = logits.softmax(-1).tolist()
                runs.answers[r].append(", ".join(f"{lab}:{q:.3f}" for lab, q in zip(labels, full)))
                runs.parse[r].append("ok")
                runs.probs[r].append([float(x) for x in p])
                _record(runs, histories, table, msgs, r, t, arm)
        else:
            prefill = "<Answer>" if pc.reasoning == "N" else ""
            texts = [_chat_text(lm, m, prefill) for m in msgs]
            gen.manual_seed(int(seed) * 1_000_003 + t)
            outs = _generate_batch(lm, texts, max_reasoning_tokens if pc.reasoning != "N" else 48,
                                   pc.temperature, gen)
            for r, out in enumerate(outs):
                answer = prefill + out
                if pc.output == "D":
                    dist, how = parse_distribution(answer, labels)
                    p = dist if dist is not None else np.full(len(labels), 1.0 / len(labels))
                    arm = int(rngs[r].choice(len(labels), p=p))
                else:
                    choice, how = parse_choice(answer, labels)
                    p = np.full(len(labels), 1.0 / len(labels))
                    if choice is None:
                        arm = int(rngs[r].integers(len(labels)))
                    else:
                        arm = choice
                        p = np.eye(len(labels))[arm]
                runs.answers[r].append(answer)
                runs.parse[r].append(how)
                runs.probs[r].append([float(x) for x in p])
                _record(runs, histories, table, msgs, r, t, arm)
        if progress:
            progress((t + 1) / horizon, f"{pc.code}: round {t + 1}/{horizon} of {replicates} replicates")
    runs.seconds = time.perf_counter() - t0
    if not pc.generates:
        runs.tokens_run = sum(c.tokens_run for c in caches)
    return runs


def _record(runs: Runs, histories, table, msgs, r: int, t: int, arm: int) -> None:
    reward = int(table[r, t, arm])
    histories[r].append((arm, reward))
    runs.choices[r, t] = arm
    runs.rewards[r, t] = reward
    runs.prompts[r].append(msgs[r])


def _generate_batch(lm: "LoadedModel", texts: list[str], max_new_tokens: int, temperature: float, gen) -> list[str]:
    """Decode a continuation of each text as one left-padded batch (greedy, or sampled at temperature)."""
    import torch

    tok = lm.tokenizer
    enc = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    width = max(len(e) for e in enc)
    pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
    ids = torch.full((len(enc), width), pad, dtype=torch.long)
    mask = torch.zeros((len(enc), width), dtype=torch.long)
    for i, e in enumerate(enc):
        ids[i, width - len(e):] = torch.tensor(e)
        mask[i, width - len(e):] = 1
    kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "pad_token_id": pad}
    if temperature > 0:
        kwargs.update(do_sample=True, temperature=temperature, top_p=1.0, top_k=0)
        torch.manual_seed(int(gen.initial_seed()))
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    with torch.inference_mode():
        out = lm.model.generate(ids.to(lm.device), attention_mask=mask.to(lm.device), **kwargs)
    return tok.batch_decode(out[:, width:].cpu(), skip_special_tokens=True)


def run_many(agents: Sequence[str], codes: Sequence[str], inst: Instance, *, horizon: int, replicates: int,
             llm_replicates: int, seed: int = 0, c: float = 1.0, epsilon: float = 0.1, model: str | None = None,
             max_reasoning_tokens: int = 96, progress: ProgressFn | None = None,
             should_stop: Callable[[], bool] | None = None) -> list[Runs]:
    """Baselines and LLM configurations on one instance, with the costs checked before anything runs."""
    from backends.models import get_model

    if not agents and not codes:
        raise InputError("Choose at least one agent: a baseline or an LLM prompt code.")
    codes = list(dict.fromkeys(parse_code(c).code for c in codes))
    if len(codes) > 12:
        raise InputError(f"{len(codes)} prompt codes chosen; run at most 12 at once.")
    horizon, llm_replicates = _check_run_size(horizon, llm_replicates, 100)
    if codes:  # refuse the whole batch up front if it cannot finish in time
        lm = get_model(model, slot="chat")
        total = sum(estimate_cost(c, inst, horizon, llm_replicates, lm,
                                  max_reasoning_tokens=max_reasoning_tokens).seconds for c in codes)
        cap = limits().max_run_s
        if total > cap:
            raise InputError(f"These {len(codes)} LLM configurations with T = {horizon} and N = {llm_replicates} "
                             f"would take about {total / 60:.1f} minutes on {lm.name}; the cap is {cap / 60:.0f} "
                             "minutes. Lower T or N, or choose fewer prompt codes.")
    out = [run_baseline(a, inst, horizon=horizon, replicates=replicates, seed=seed, c=c, epsilon=epsilon)
           for a in agents]
    for i, code in enumerate(codes):
        sub = (lambda f, m, i=i: progress((i + f) / len(codes), m)) if progress else None
        out.append(run_llm(code, inst, horizon=horizon, replicates=llm_replicates, model=model, seed=seed,
                           max_reasoning_tokens=max_reasoning_tokens, progress=sub, should_stop=should_stop))
    return out


def runs_table(runs: Sequence[Runs]) -> list[dict[str, Any]]:
    """Every decision as one row (agent, replicate, round, arm, reward, best arm?), for CSV export."""
    rows = []
    for run in runs:
        labels = parse_code(run.code).labels(run.instance.k) if run.code else None
        for r in range(run.replicates):
            for t in range(run.horizon):
                a = int(run.choices[r, t])
                row = {"agent": run.agent, "replicate": r + 1, "round": t + 1, "arm": a + 1,
                       "label": labels[a] if labels else "", "reward": int(run.rewards[r, t]),
                       "best_arm": int(a == run.instance.best)}
                if run.kind == "llm":
                    row["parse"] = run.parse[r][t]
                rows.append(row)
    return rows
