"""The failure statistics of Krishnamurthy et al. (2024), and every decision as a table row."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from backends.bandits.instances import Runs
from backends.bandits.prompts import parse_code


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
