"""The sweep runner in-process (no Ray here: the Ray tier is tests/ray): order, seeds, batches, retries,
stop and resume, the results file, the fallback when Ray is missing, and input checks."""
import json
import sys

import pytest

from backends import sweeps
from backends.config import InputError

sweeps.register_kind("square", "tests.sweep_kinds:SQUARE")
ITEMS = [{"x": i} for i in range(7)]


def _run(tmp_path, items=ITEMS, **kw):
    kw.setdefault("results_path", tmp_path / "r.jsonl")
    return sweeps.run_sweep("square", items, {"offset": 1}, **kw)


def test_results_in_item_order_with_seeds_from_the_item(tmp_path):
    res = _run(tmp_path, seed=5)
    assert [r["y"] for r in res.results] == [i * i + 1 for i in range(7)]
    keys = [sweeps.item_key(it) for it in ITEMS]
    assert [r["seed"] for r in res.results] == [sweeps.item_seed(5, k) for k in keys]
    assert res.backend == "local" and res.workers == 1 and res.complete and not res.failed
    # The same items in another order get the same seeds: a seed never depends on position or worker.
    shuffled = _run(tmp_path, items=ITEMS[::-1], seed=5)
    assert [r["seed"] for r in shuffled.results] == [r["seed"] for r in res.results][::-1]
    assert sweeps.item_seed(5, keys[0]) != sweeps.item_seed(6, keys[0])


def test_batches_are_fixed_slices_of_the_item_list(tmp_path):
    res = _run(tmp_path, batch_size=3)
    assert [r["batch"] for r in res.results] == [3, 3, 3, 3, 3, 3, 1]
    assert [r["batch"] for r in _run(tmp_path).results] == [2, 2, 2, 2, 2, 2, 1]  # the kind's own batch size


def test_a_failing_item_is_retried_once_then_reported_and_its_batch_mates_are_kept(tmp_path):
    items = [{"x": 1}, {"x": 2, "fail_once": str(tmp_path / "once")}, {"x": 3, "fail": True}, {"x": 4}]
    res = _run(tmp_path, items=items)
    assert res.results[0]["y"] == 2 and res.results[1]["y"] == 5 and res.results[3]["y"] == 17
    assert res.results[2] is None
    assert res.failed == {2: "ValueError: item 3 always fails"}
    assert not res.complete


def test_stop_keeps_the_finished_items_and_resume_completes_them_identically(tmp_path):
    path = tmp_path / "r.jsonl"
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] >= 2  # asked after each batch: stops after the second

    part = _run(tmp_path, should_stop=stop, results_path=path)
    assert part.stopped == "stopped"
    done = [i for i, r in enumerate(part.results) if r is not None]
    assert done == [0, 1, 2, 3] and not part.failed
    assert len(sweeps.read_results(path)) == 4
    resumed = _run(tmp_path, resume=True, results_path=path)
    assert resumed.resumed == 4 and resumed.complete
    assert resumed.results == _run(tmp_path, results_path=tmp_path / "fresh.jsonl").results
    # Without resume the run starts a fresh file: nothing is taken from it.
    again = _run(tmp_path, results_path=path)
    assert again.resumed == 0 and len(path.read_text().splitlines()) == 7


def test_closing_the_generator_or_a_time_cap_keeps_what_finished(tmp_path):
    path = tmp_path / "r.jsonl"
    it = sweeps.sweep_iter("square", ITEMS, {"offset": 1}, results_path=path)
    for p in it:
        if p.done >= 2:
            break
    it.close()
    assert sorted(sweeps.read_results(path)) == sorted(sweeps.item_key(x) for x in ITEMS[:2])
    capped = _run(tmp_path, time_budget_s=0, results_path=tmp_path / "cap.jsonl")
    assert capped.stopped == "time cap" and sum(r is not None for r in capped.results) == 2


def test_a_line_cut_short_by_a_killed_writer_is_skipped(tmp_path):
    path = tmp_path / "r.jsonl"
    _run(tmp_path, results_path=path)
    with path.open("a") as f:
        f.write('{"key": "abc", "resu')
    assert len(sweeps.read_results(path)) == 7


def test_results_are_json_round_tripped_as_the_file_would_give_them(tmp_path):
    import numpy as np

    assert sweeps.round_trip({"a": (1, 2), "b": np.float32(0.5), "c": np.arange(3)}) == {"a": [1, 2], "b": 0.5,
                                                                                       "c": [0, 1, 2]}
    with pytest.raises(TypeError, match="JSON-able"):
        sweeps.round_trip({"a": object()})
    res = _run(tmp_path)
    line = json.loads((tmp_path / "r.jsonl").read_text().splitlines()[0])
    assert line == {"key": sweeps.item_key(ITEMS[0]), "result": res.results[0]}


def test_without_ray_the_ray_backend_runs_in_process_with_the_same_results_and_a_note(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    res = _run(tmp_path, backend="ray", workers=2)
    assert res.backend == "local" and "not installed" in res.note
    assert res.results == _run(tmp_path).results


def test_the_results_file_is_keyed_by_kind_options_seed_and_batch(registry):
    kind = sweeps.kind_of("square")
    a = sweeps.sweep_key(kind, {"offset": 1}, 0, 2)
    assert a == sweeps.sweep_key(kind, {"offset": 1}, 0, 2)
    assert len({a, sweeps.sweep_key(kind, {"offset": 2}, 0, 2), sweeps.sweep_key(kind, {"offset": 1}, 1, 2),
                sweeps.sweep_key(kind, {"offset": 1}, 0, 3)}) == 4
    res = sweeps.run_sweep("square", ITEMS[:2], {"offset": 3})
    assert res.path.startswith(str(registry.cache_dir / "sweeps" / "square-"))


def test_plan_workers_starts_fewer_where_memory_or_cores_are_short(registry):
    assert sweeps.plan_workers(2, [], cores=2, available=8e9) == (2, "")
    n, note = sweeps.plan_workers(2, [], cores=2, available=1.2e9)  # one worker's 0.8 GB fits, two do not
    assert n == 1 and "free" in note
    n, note = sweeps.plan_workers(8, [], cores=2, available=64e9)
    assert n == 2 and "2 cores" in note


def test_bad_requests_get_clear_messages(tmp_path):
    with pytest.raises(InputError, match="Unknown sweep"):
        sweeps.run_sweep("nope", ITEMS)
    with pytest.raises(InputError, match="no items"):
        _run(tmp_path, items=[])
    with pytest.raises(InputError, match="valid Unicode"):  # found by the property test: a UnicodeEncodeError
        _run(tmp_path, items=[{"x": "a\ud800b"}])
    with pytest.raises(InputError, match="Unknown backend"):
        _run(tmp_path, backend="spark")
    with pytest.raises(InputError, match="workers"):
        _run(tmp_path, workers=0)
    with pytest.raises(InputError, match="Workers"):
        sweeps.check_backend("Ray", 99, 8)
    assert sweeps.check_backend("Ray", 2) == ("ray", 2)
    assert sweeps.check_backend("in-process", 1.0) == ("local", 1)


def test_progress_reports_items_throughput_and_workers(tmp_path):
    seen = list(sweeps.sweep_iter("square", ITEMS, {"offset": 1}, results_path=tmp_path / "p.jsonl"))
    assert seen[0].done == 0 and seen[-1].result is not None and seen[-1].done == 7
    assert [p.done for p in seen[1:-1]] == [2, 4, 6, 7]
    line = seen[-2].line()
    assert "7/7 items" in line and "1 worker (local)" in line
    assert sweeps.progress_markdown(seen[-1]).startswith("**Sweep:** 7/7 items")


# ----- the worker pool (state kept between calls) -----
sweeps.register_kind("counter", "tests.sweep_kinds:COUNTER")


def test_a_pool_keeps_each_workers_state_between_calls():
    import numpy as np

    with sweeps.worker_pool("counter", {"start": 10}, workers=3, seed=4) as pool:
        assert (pool.backend, pool.workers, pool.note) == ("local", 3, "")
        first = pool.map([{"add": 1}, {"add": 2}, {"add": 3}])
        second = pool.map([{"add": 1}, {"add": 1}, {"add": 1, "array": np.arange(3)}])
    assert [r["total"] for r in first] == [11, 12, 13]
    assert [r["total"] for r in second] == [12, 13, 14] and [r["calls"] for r in second] == [2, 2, 2]
    assert second[2]["array"].tolist() == [0, 2, 4]  # numpy passes as it is, no JSON
    seeds = [r["seed"] for r in first]
    assert len(set(seeds)) == 3 and seeds == [r["seed"] for r in second]  # one seed per worker, stable
    with sweeps.worker_pool("counter", workers=2, seed=4) as again:
        assert again.seeds == pool.seeds[:2]  # worker w's seed depends on the pool's seed and w only


def test_a_pool_reports_failures_and_bad_requests_clearly(monkeypatch):
    with sweeps.worker_pool("counter", workers=2) as pool:
        with pytest.raises(InputError, match="one call per worker, got 1"):
            pool.map([{"add": 1}])
        with pytest.raises(ValueError, match="call 5 fails"):
            pool.map([{"add": 1}, {"add": 5, "fail": True}])
    with pytest.raises(ValueError, match="setup always fails"):
        with sweeps.worker_pool("counter", {"bad_setup": True}):
            pass
    with pytest.raises(InputError, match="Unknown backend"):
        with sweeps.worker_pool("counter", backend="spark"):
            pass
    with pytest.raises(InputError, match="JSON-able"):
        with sweeps.worker_pool("counter", {"x": object()}):
            pass
    monkeypatch.setattr(sweeps, "_ray", lambda address: (None, "Ray is not installed, so the sweep ran in-process",
                                                         False))
    with sweeps.worker_pool("counter", workers=2, backend="ray") as pool:
        assert pool.backend == "local" and "the workers ran in-process" in pool.note
        assert [r["total"] for r in pool.map([{"add": 1}, {"add": 2}])] == [1, 2]


def test_a_kinds_options_take_its_defaults_and_name_a_missing_or_unknown_one(tmp_path):
    from backends import cot_decoding, detector, early_exit

    # The kinds whose every option has a default fill them in (model names resolved, nothing loaded) ...
    assert cot_decoding.SWEEP.complete(None) == cot_decoding.sweep_options()
    assert cot_decoding.SWEEP.complete({"k": 3})["k"] == 3
    assert detector.SWEEP.complete({}) == detector.sweep_options()
    assert early_exit.SWEEP.complete({"prompt": "Hi"}) == early_exit.speculation_options("Hi")
    # ... and a missing required option or an unknown one is refused by name, before any worker starts.
    for name, options, named in [("speculation", None, "prompt"), ("bandits", {}, "model"),
                                 ("rag", {"k": 2}, "index_key"), ("cot", {"kk": 3}, "kk"),
                                 ("detector", {"observer": "x", "shots": 1}, "shots")]:
        with pytest.raises(InputError, match=named) as e:
            sweeps.run_sweep(name, [{"question": "q"}], options, results_path=tmp_path / "x.jsonl")
        assert "sweep" in str(e.value) and "KeyError" not in str(e.value)
    assert not (tmp_path / "x.jsonl").exists()
