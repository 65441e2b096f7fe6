"""Bandit instances, the shared reward table, an agent's runs, and the baselines (vectorised over replicates).

Randomness is drawn from seeds only: the reward table ``rewards[r, t, a]`` comes from ``seed`` alone, so
every agent run with the same seed faces the same coin flips; each agent's own randomness comes from
``seed`` and the agent's name (:func:`agent_rng`).
"""
from __future__ import annotations

import re
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from backends.config import InputError, check_count, check_number, limits

MAX_ARMS = 10
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


def agent_rng(seed: int, agent: str, *extra: int) -> np.random.Generator:
    """The random stream of one agent (and optionally one replicate): from the seed and the agent's name."""
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


def check_run_size(horizon: Any, replicates: Any, max_replicates: int) -> tuple[int, int]:
    """Horizon T and replicates N checked: (T, N)."""
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
    horizon, replicates = check_run_size(horizon, replicates, 100_000)
    seed = check_count(seed, what="Seed", low=0, high=2**63 - 1)
    c = check_number(c, what="UCB constant C", low=0.0, high=100.0)
    epsilon = check_number(epsilon, what="ε", low=0.0, high=1.0)
    t0 = time.perf_counter()
    table = reward_table(inst, horizon, replicates, seed)
    rng = agent_rng(seed, agent)
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

