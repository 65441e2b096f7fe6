"""The sweep runner on local Ray workers: the same results as in-process for any worker count, a worker
killed mid-run loses no items, stop and resume, a failed setup's message, and per-worker figures."""
import os

import pytest

from backends import sweeps
from backends.config import InputError

sweeps.register_kind("square", "tests.sweep_kinds:SQUARE")
ITEMS = [{"x": i} for i in range(9)]


def _plain(results):
    return [{k: v for k, v in r.items() if k != "pid"} if r else r for r in results]


def test_ray_gives_the_in_process_results_for_any_worker_count(local_ray, tmp_path):
    ref = sweeps.run_sweep("square", ITEMS, {"offset": 1}, seed=3, results_path=tmp_path / "a.jsonl")
    for workers in (1, 2):
        res = sweeps.run_sweep("square", ITEMS, {"offset": 1}, seed=3, backend="ray", workers=workers,
                               results_path=tmp_path / f"w{workers}.jsonl")
        assert res.backend.startswith("ray (local") and res.workers == workers and res.complete
        assert _plain(res.results) == _plain(ref.results)
        assert len({r["pid"] for r in res.results}) == workers  # really spread over the workers
        assert len(res.worker_memory_mb) == workers and all(m > 50 for m in res.worker_memory_mb)


def test_a_worker_killed_mid_run_loses_no_items(local_ray, tmp_path):
    items = ITEMS + [{"x": 20, "die_once": str(tmp_path / "died")}, {"x": 21}, {"x": 22, "die": True}]
    res = sweeps.run_sweep("square", items, {"offset": 1}, backend="ray", workers=2, batch_size=1,
                           results_path=tmp_path / "k.jsonl")
    assert (tmp_path / "died").exists()  # the process did die once
    assert [r["y"] for r in res.results[:-1]] == [i * i + 1 for i in range(9)] + [401, 442]
    assert res.results[-1] is None and list(res.failed) == [11]
    assert "died" in res.failed[11]


def test_stop_and_resume_on_ray(local_ray, tmp_path):
    path = tmp_path / "s.jsonl"
    items = [{"x": i, "sleep": 0.2} for i in range(10)]
    part = None
    for p in sweeps.sweep_iter("square", items, {"offset": 1}, backend="ray", workers=2, batch_size=1,
                               results_path=path, should_stop=lambda: len(sweeps.read_results(path)) >= 3):
        part = p.result or part
    assert part.stopped == "stopped" and 3 <= sum(r is not None for r in part.results) < 10
    full = sweeps.run_sweep("square", items, {"offset": 1}, backend="ray", workers=2, batch_size=1,
                            results_path=path, resume=True)
    assert full.complete and full.resumed == sum(r is not None for r in part.results)
    assert [r["y"] for r in full.results] == [i * i + 1 for i in range(10)]


def test_a_setup_that_fails_ends_the_sweep_with_its_message(local_ray, tmp_path):
    with pytest.raises(sweeps.SetupError, match="this setup always fails"):
        sweeps.run_sweep("square", ITEMS, {"bad_setup": True}, backend="ray", workers=2,
                         results_path=tmp_path / "f.jsonl")


sweeps.register_kind("counter", "tests.sweep_kinds:COUNTER")


def test_a_ray_pool_keeps_state_on_its_workers_and_matches_in_process(local_ray):
    import numpy as np

    rounds = [[{"add": 1}, {"add": 2}], [{"add": 3}, {"add": 4, "array": np.ones(2)}]]

    def run(backend):
        with sweeps.worker_pool("counter", {"start": 1}, workers=2, backend=backend, seed=3) as pool:
            return pool.backend, pool.workers, [pool.map(calls) for calls in rounds]

    (b, n, on_ray), (_, _, local) = run("ray"), run("local")
    assert (b, n) == ("ray", 2)
    assert [[r["total"] for r in out] for out in on_ray] == [[2, 3], [5, 7]]
    pids = {r["pid"] for out in on_ray for r in out}
    assert len(pids) == 2 and os.getpid() not in pids  # two worker processes, each keeping its total
    strip = [[{k: v for k, v in r.items() if k not in ("pid", "array")} for r in out] for out in on_ray]
    assert strip == [[{k: v for k, v in r.items() if k not in ("pid", "array")} for r in out] for out in local]
    assert on_ray[1][1]["array"].tolist() == [2.0, 2.0]


def test_a_ray_pool_worker_that_fails_or_dies_ends_the_run_with_a_message(local_ray):
    with sweeps.worker_pool("counter", workers=2, backend="ray") as pool:
        with pytest.raises(ValueError, match="call 5 fails"):
            pool.map([{"add": 1}, {"add": 5, "fail": True}])
        with pytest.raises(InputError, match="worker process died"):
            pool.map([{"add": 1}, {"add": 1, "die": True}])
    with pytest.raises(sweeps.SetupError, match="setup always fails"):
        with sweeps.worker_pool("counter", {"bad_setup": True}, workers=1, backend="ray"):
            pass
