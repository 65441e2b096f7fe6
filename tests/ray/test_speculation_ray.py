"""The "speculation" sweep on two Ray workers gives the in-process run's acceptance and losslessness (tiny profile)."""
import os
import time

import pytest
import torch

from backends import early_exit as EE

PROMPT = "The history of the United States begins"
DISCRETE = ("exit_layer", "speculations", "drafted", "accepted", "identical", "tokens", "steps", "plain_steps",
            "n_layers")


def test_speculation_sweep_on_ray_matches_in_process(registry, local_ray):
    kw = dict(max_new_tokens=8, schedule="fixed")
    t0 = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))  # as each of the two Ray workers (and on a busy
    # 2-core machine one thread is several times faster than two)
    try:
        here = EE.speculation_sweep(PROMPT, [12, 24], [3], "smollm2-135m-instruct", **kw)
    finally:
        torch.set_num_threads(threads)
    t1 = time.perf_counter()
    there = EE.speculation_sweep(PROMPT, [12, 24], [3], "smollm2-135m-instruct", backend="ray", workers=2, **kw)
    print(f"in-process {t1 - t0:.1f} s, Ray {time.perf_counter() - t1:.1f} s, {there.sweep}")
    assert here.sweep["backend"] == "local" and "ray" in there.sweep["backend"], there.sweep
    assert not here.failed and not there.failed and len(here.rows) == len(there.rows) == 2
    for a, b in zip(here.rows, there.rows):
        assert {k: a[k] for k in DISCRETE} == {k: b[k] for k in DISCRETE}
        assert a["identical"] is True  # lossless wherever it ran
        assert b["acceptance"] == pytest.approx(a["acceptance"], rel=1e-4)
        # timings (seconds, speed-up) are not compared: workers share the cores
    assert there.sweep["workers"] == 2 and len(there.sweep["worker_memory_mb"]) == 2
