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

The package is split along those seams: :mod:`.instances` (instances, runs, baselines), :mod:`.stats`
(failure statistics), :mod:`.prompts` (prompt designs and answer parsing), :mod:`.agent` (the LLM agent),
:mod:`.sweep` (the paper's grid of designs as a sweep, in-process or on Ray workers: :func:`run_grid`).
Everything public is importable from ``backends.bandits``.
"""
from __future__ import annotations

from backends.bandits.agent import (
    ANSWER_TAG,
    Cancelled,
    Decision,
    Estimate,
    ProgressFn,
    chat_model,
    estimate_cost,
    label_token_ids,
    model_speed,
    prompt_ids,
    run_llm,
    run_many,
)
from backends.bandits.instances import (
    BASELINE_NAMES,
    BASELINES,
    INSTANCES,
    MAX_ARMS,
    Instance,
    Runs,
    agent_rng,
    check_run_size,
    make_instance,
    parse_means,
    reward_table,
    run_baseline,
)
from backends.bandits.prompts import (
    AD_LABELS,
    ANSWER_RE,
    BUTTON_LABELS,
    CODE_RE,
    PromptCode,
    all_codes,
    parse_choice,
    parse_code,
    parse_distribution,
    render_prompt,
)
from backends.bandits.stats import Stats, failure_stats, greedy_fraction, min_fraction, runs_table, suffix_failure
from backends.bandits.sweep import Grid, grid_items, grid_options, instance_of, run_grid, runs_of, select_codes
from backends.config import InputError
from backends.decoding import PrefixCache, TimeBudgetError

__all__ = [
    "AD_LABELS", "ANSWER_RE", "ANSWER_TAG", "BASELINES", "BASELINE_NAMES", "BUTTON_LABELS", "CODE_RE", "INSTANCES",
    "MAX_ARMS", "Cancelled", "Decision", "Estimate", "Grid", "InputError", "Instance", "PrefixCache", "ProgressFn",
    "PromptCode", "Runs", "Stats", "TimeBudgetError", "agent_rng", "all_codes", "chat_model", "check_run_size",
    "estimate_cost", "failure_stats", "greedy_fraction", "grid_items", "grid_options", "instance_of",
    "label_token_ids", "make_instance", "min_fraction", "model_speed", "parse_choice", "parse_code",
    "parse_distribution", "parse_means", "prompt_ids", "render_prompt", "reward_table", "run_baseline", "run_grid",
    "run_llm", "run_many", "runs_of", "runs_table", "select_codes", "suffix_failure",
]
