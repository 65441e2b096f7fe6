"""The "speculation" sweep on two Ray workers gives the in-process run's acceptance and losslessness (tiny profile)."""
import time

import pytest

from backends import early_exit as EE

PROMPT = "The history of the United States begins"
DISCRETE = ("exit_layer", "speculations", "drafted", "accepted", "identical", "tokens", "steps", "plain_steps",
            "n_layers")


def test_speculation_sweep_on_ray_matches_in_process(registry, local_ray):
    kw = dict(max_new_tokens=8, schedule="fixed")
    t0 = time.perf_counter()
    here = EE.speculation_sweep(PROMPT, [12, 24], [3], "smollm2-135m-instruct", **kw)
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
