"""The bandit grid ("bandits" sweep) on two Ray workers makes the in-process run's choices (tiny profile)."""
import os
import time

import numpy as np
import torch

from backends import bandits as B

# Answer-only at temperature 1 (sampled: the seeds must travel with the items) and a greedy chain-of-thought design;
# a greedy answer-only design (BNRN0) differs from these only in what they already cover (temperature, prompt).
CODES = ["BSSN1", "BSRC~0"]


def test_bandit_grid_on_ray_matches_in_process(registry, local_ray):
    inst = B.make_instance("hard", seed=1)
    kw = dict(horizon=3, replicates=1, model="smollm2-135m-instruct", seed=4, max_reasoning_tokens=8,
              baselines=["ucb"])
    t0 = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))  # as each of the two Ray workers (and on a busy
    # 2-core machine one thread is several times faster than two)
    try:
        here = B.run_grid(CODES, inst, **kw)
    finally:
        torch.set_num_threads(threads)
    t1 = time.perf_counter()
    there = B.run_grid(CODES, inst, backend="ray", workers=2, **kw)
    print(f"in-process {t1 - t0:.1f} s, Ray {time.perf_counter() - t1:.1f} s, {there.sweep}")
    assert here.sweep["backend"] == "local" and "ray" in there.sweep["backend"], there.sweep
    assert not here.failed and not there.failed and there.sweep["workers"] == 2
    assert [r.agent for r in here.runs] == [r.agent for r in there.runs] == ["UCB", *(f"LLM {c}" for c in CODES)]
    for a, b in zip(here.runs, there.runs):
        assert np.array_equal(a.choices, b.choices) and np.array_equal(a.rewards, b.rewards)
        assert a.parse == b.parse and a.answers == b.answers
        assert np.allclose(np.asarray(a.probs, dtype=float), np.asarray(b.probs, dtype=float), rtol=1e-4, atol=1e-6)
    for s, t in zip(here.stats, there.stats):  # the failure statistics follow from the choices
        assert s.row() == t.row()
