"""The sweep runner on local Ray workers: the same results as in-process for any worker count, a worker
killed mid-run loses no items, stop and resume, a failed setup's message, and per-worker figures."""
import pytest

from backends import sweeps

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
