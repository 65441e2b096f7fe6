"""Small sweep kinds for the runner's tests: no models, results that show seeds, batches and retries.

An item is ``{"x": n}`` plus, optionally:

* ``"fail_once": PATH``: raise on the first try (while PATH does not exist; the try creates it);
* ``"fail": true``: raise every time;
* ``"die_once": PATH``: end the worker's process on the first try (Ray only: in-process it would end the test);
* ``"die": true``: end the worker's process every time (Ray only);
* ``"sleep": seconds`` before answering.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from backends.sweeps import Kind


def _setup(options: dict) -> dict:
    if options.get("bad_setup"):
        raise ValueError("this setup always fails")
    return {"offset": int(options.get("offset", 0)), "pid": os.getpid()}


def _first_time(path: str) -> bool:
    p = Path(path)
    if p.exists():
        return False
    p.write_text("tried")
    return True


def _run(state: dict, items: list[dict], seeds: list[int]) -> list[dict]:
    out = []
    for it, seed in zip(items, seeds):
        if it.get("sleep"):
            time.sleep(float(it["sleep"]))
        if it.get("fail"):
            raise ValueError(f"item {it['x']} always fails")
        if it.get("fail_once") and _first_time(it["fail_once"]):
            raise ValueError(f"item {it['x']} fails on its first try")
        if it.get("die_once") and _first_time(it["die_once"]):
            os._exit(3)
        if it.get("die"):
            os._exit(3)
        out.append({"y": it["x"] ** 2 + state["offset"], "seed": seed, "batch": len(items), "pid": state["pid"]})
    return out


SQUARE = Kind("square", _setup, _run, version="1", batch_size=2)


# A worker-pool kind: each worker keeps a running total between calls. A call is {"add": n} plus, optionally,
# {"array": ndarray} (returned doubled: calls and results need not be JSON-able), {"fail": true} or {"die": true}.
def _counter_setup(options: dict) -> dict:
    if options.get("bad_setup"):
        raise ValueError("this setup always fails")
    return {"total": int(options.get("start", 0)), "calls": 0, "pid": os.getpid()}


def _counter_run(state: dict, items: list[dict], seeds: list[int]) -> list[dict]:
    (call,), (seed,) = items, seeds
    if call.get("fail"):
        raise ValueError(f"call {call['add']} fails")
    if call.get("die"):
        os._exit(3)
    state["total"] += call["add"]
    state["calls"] += 1
    out = {"total": state["total"], "calls": state["calls"], "seed": seed, "pid": state["pid"]}
    if "array" in call:
        out["array"] = call["array"] * 2
    return [out]


COUNTER = Kind("counter", _counter_setup, _counter_run, version="1")
