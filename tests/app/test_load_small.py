"""A small load run in CI: 4 gradio_client users at once across every tab, then a queue overflow.

The full run (16 clients x 25 requests, with the server's memory) is ``make bench`` / bench/bench_load.py;
this uses the same driver against the in-process app of the test session.
"""
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.app

ROOT = Path(__file__).resolve().parents[2]


def _driver():
    spec = importlib.util.spec_from_file_location("bench_load", ROOT / "bench" / "bench_load.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_load"] = mod  # its dataclasses look their module up while being defined
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def load():
    return _driver()


def test_every_listed_endpoint_has_a_load_example_or_a_reason(load, client):
    listed = load.discover(client)
    missing = [e for e in listed if e not in load.EXAMPLES and e not in load.SKIP]
    assert not missing, f"add these endpoints to EXAMPLES (or SKIP, with a reason) in bench/load_examples.py: {missing}"


def test_four_clients_mixed_tabs_then_a_queue_overflow(load, app_url, artifacts):
    import app

    report = load.run(app_url, os.getpid(), clients=4, requests=3, max_seconds=150, request_timeout=120,
                      burst_size=app.QUEUE_MAX_SIZE + 8, warmup=False, log=lambda m: None)
    (artifacts / "load-small.json").write_text(json.dumps(report, indent=1, default=str))
    load.print_report(report)
    assert report["total_requests"] + report["not_started"] == 12
    failures = {e: s["errors"] for e, s in report["per_endpoint"].items() if s["failures"]}
    assert not failures, failures
    b = report["burst"]
    # The surplus is turned away at once with a clear message; everything accepted completes.
    assert b["queue_full"] >= 1, b
    assert b["rejection_message"] and "queue is full" in b["rejection_message"].lower()
    assert b["rejection_max_s"] < 30
    assert b["completed"] + b["queue_full"] == b["sent"] and not b["other_failures"] and b["blocker_ok"], b
