"""Load driver: many gradio_client users at once across every tab's API, with the server's memory.

    .venv/bin/python bench/bench_load.py                       # 16 clients x 25 requests (make bench)
    .venv/bin/python bench/bench_load.py --clients 4 --requests 3 --max-seconds 120
    .venv/bin/python bench/bench_load.py --url http://127.0.0.1:7860/ --pid 1234   # an app already running

It launches ``app.py`` on a free loopback port in a subprocess (tiny profile, small packaged models), warms every
endpoint up once, then runs N clients at once, each sending its requests one after another (a mixed,
seeded sequence over the endpoints the app's API lists; bench/load_examples.py holds the request for each).
The run is bounded: past ``--max-seconds`` no new request starts and the ones in flight are cancelled, so the
script always stops by itself.

Then a burst: more requests at once than the queue holds (``app.QUEUE_MAX_SIZE``), to check that the
surplus is turned away at once with gradio's "Queue is full" message rather than left hanging, and
that every accepted request still completes.

Reported per endpoint: requests, failures, p50/p95 latency (submit to result), p50/p95 queue wait
(submit to the moment the server starts it, polled every 50 ms), queue-full rejections; and the
server's RSS before warm-up, the peak during warm-up, after warm-up, the peak during the run and after
the run (leak check: after the run within 10 % of after warm-up). Results also go to
``bench/results/load.json``.

Targets (issue #10): no failed request other than deliberate queue-full answers; memory after the run
within 10 % of memory after warm-up.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load_examples import EXAMPLES, SKIP, SMOL, Example  # noqa: E402  (the requests it sends)

__all__ = ["EXAMPLES", "SKIP", "Example", "discover", "run", "print_report", "launch_app", "main"]


@dataclass
class Record:
    endpoint: str
    ok: bool
    latency: float  # submit to result, s
    queue_wait: float | None  # submit to processing start, s (None when never seen processing)
    error: str = ""
    queue_full: bool = False
    phase: str = "run"


@dataclass
class MemoryMonitor:
    """Samples the server's RSS every `interval` seconds, keeping the peak per phase and the run's timeline."""

    pid: int | None
    interval: float = 0.5
    peaks: dict[str, int] = field(default_factory=dict)
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (seconds into the run, RSS) in "run"
    phase: str = "idle"
    _stop: threading.Event = field(default_factory=threading.Event)

    def rss(self) -> int | None:
        if self.pid is None:
            return None
        import psutil

        try:
            return psutil.Process(self.pid).memory_info().rss
        except psutil.Error:
            return None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            r = self.rss()
            if r is not None:
                self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), r)
                if self.phase == "run":
                    self.timeline.append((time.monotonic(), r))

    def start(self) -> None:
        threading.Thread(target=self._loop, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_app(extra_args: list[str] | None = None, timeout: float = 300) -> tuple[subprocess.Popen, str, Path]:
    """Start app.py on a free loopback port; returns (process, url, log path) once it answers."""
    port = _free_port()
    log_path = Path(tempfile.gettempdir()) / f"workbench-load-{port}.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port),
                             "--profile", "tiny", *(extra_args or [])],
                            cwd=ROOT, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode}; see {log_path}")
        try:
            urllib.request.urlopen(url + "config", timeout=5).read()
            return proc, url, log_path
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"app.py did not answer within {timeout:.0f} s; see {log_path}")


def discover(client) -> list[str]:
    """Named endpoints the running app offers through its API."""
    return sorted(client.view_api(print_info=False, return_format="dict")["named_endpoints"])


def call(client, endpoint: str, args: tuple, timeout: float, phase: str = "run") -> Record:
    """One request through gradio_client: latency, queue wait and outcome (never raises)."""
    from gradio_client.utils import QueueError, Status

    t0 = time.monotonic()
    started: float | None = None
    job = None
    try:
        job = client.submit(*args, api_name=endpoint)
        while not job.done():
            if started is None and job.status().code in (Status.PROCESSING, Status.ITERATING, Status.PROGRESS):
                started = time.monotonic()
            if time.monotonic() - t0 > timeout:
                job.cancel()
                raise TimeoutError(f"no answer within {timeout:.0f} s")
            time.sleep(0.05)
        job.result(timeout=5)
        end = time.monotonic()
        return Record(endpoint, True, end - t0, (started or end) - t0, phase=phase)
    except QueueError as e:
        return Record(endpoint, False, time.monotonic() - t0, None, str(e), queue_full=True, phase=phase)
    except Exception as e:  # a failed request is data here, not a crash of the driver
        return Record(endpoint, False, time.monotonic() - t0, None, f"{type(e).__name__}: {e}"[:300], phase=phase)


def plan(endpoints: list[str], n: int, seed: int) -> list[str]:
    """A seeded, weighted mix of n requests over the endpoints (each appears at least once when n allows)."""
    rng = random.Random(seed)
    weights = [EXAMPLES[e].weight for e in endpoints]
    first = endpoints[:]
    rng.shuffle(first)
    seq = first[:n] + rng.choices(endpoints, weights, k=max(0, n - len(first)))
    rng.shuffle(seq)
    # An endpoint that needs another first (gr.State) goes after it; without it, it is dropped.
    out, seen = [], set()
    for e in seq:
        need = EXAMPLES[e].after
        if need and need not in seen:
            if need not in endpoints:
                continue
            out.append(need)
            seen.add(need)
        out.append(e)
        seen.add(e)
    return out[:n]  # prerequisites come before what needs them, so cutting the tail keeps them


def run_clients(url: str, endpoints: list[str], clients: int, requests: int, *, deadline: float,
                request_timeout: float, seed: int = 0) -> tuple[list[Record], int]:
    """Run `clients` gradio_client clients at once; returns the records and the count of requests not started."""
    from gradio_client import Client

    records: list[Record] = []
    lock = threading.Lock()
    not_started = [0]

    def worker(i: int) -> None:
        client = Client(url, verbose=False)
        todo = plan(endpoints, requests, seed + i)
        for k, e in enumerate(todo):
            left = deadline - time.monotonic()
            if left <= 0:
                with lock:
                    not_started[0] += len(todo) - k
                return
            r = call(client, e, EXAMPLES[e].args(), min(request_timeout, left + 1))
            with lock:
                records.append(r)
        client.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(1.0, deadline - time.monotonic()) + request_timeout + 30)
    return records, not_started[0]


# The burst: a slow request holds the one model slot while many quick model-lane requests arrive, so the
# queue fills for certain (rather than depending on how fast the server drains it).
BLOCKER = ("/early_exit_generate", ("The history of the United States begins", SMOL, 12, 2, 48))
BURST_ENDPOINT = ("/models_load", (SMOL,))


def burst(url: str, n: int, *, senders: int = 4, timeout: float = 300) -> tuple[list[Record], Record | None]:
    """Hold the model slot with a slow request, then send n quick requests at once (from `senders` clients)."""
    from gradio_client import Client

    records: list[Record] = []
    lock = threading.Lock()
    clients = [Client(url, verbose=False, max_workers=n) for _ in range(senders + 1)]
    blocker: list[Record] = []
    blocking = threading.Thread(target=lambda: blocker.append(
        call(clients[-1], BLOCKER[0], BLOCKER[1], timeout, phase="burst")), daemon=True)
    blocking.start()
    time.sleep(1.0)  # let the blocker reach the worker
    gate = threading.Barrier(n)

    def one(i: int) -> None:
        gate.wait()
        r = call(clients[i % senders], BURST_ENDPOINT[0], BURST_ENDPOINT[1], timeout, phase="burst")
        with lock:
            records.append(r)

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads + [blocking]:
        t.join(timeout=timeout + 30)
    for c in clients:
        c.close()
    return records, (blocker[0] if blocker else None)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summarise(records: list[Record]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for e in sorted({r.endpoint for r in records}):
        rs = [r for r in records if r.endpoint == e]
        ok = [r for r in rs if r.ok]
        lat = [r.latency for r in ok]
        waits = [r.queue_wait for r in ok if r.queue_wait is not None]
        out[e] = {
            "requests": len(rs),
            "failures": sum(1 for r in rs if not r.ok and not r.queue_full),
            "queue_full": sum(1 for r in rs if r.queue_full),
            "p50_s": pct(lat, 50), "p95_s": pct(lat, 95),
            "wait_p50_s": pct(waits, 50), "wait_p95_s": pct(waits, 95),
            "errors": sorted({r.error for r in rs if not r.ok})[:3],
        }
    return out


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:6.2f}"


def print_table(title: str, summary: dict[str, dict[str, Any]]) -> None:
    print(f"\n{title}")
    print(f"{'endpoint':24} {'req':>4} {'fail':>4} {'qfull':>5} {'p50 s':>6} {'p95 s':>6} {'wait50':>6} {'wait95':>6}")
    for e, s in summary.items():
        print(f"{e:24} {s['requests']:4d} {s['failures']:4d} {s['queue_full']:5d} {_fmt(s['p50_s'])} "
              f"{_fmt(s['p95_s'])} {_fmt(s['wait_p50_s'])} {_fmt(s['wait_p95_s'])}")
        for err in s["errors"]:
            print(f"{'':24}   ! {err}")


def mb(x: int | None) -> str:
    return "n/a" if x is None else f"{x / 2**20:,.0f} MB"


def run(url: str, pid: int | None, *, clients: int, requests: int, max_seconds: float, request_timeout: float,
        burst_size: int | None, seed: int = 0, out: Path | None = None, warmup: bool = True,
        log: Callable[[str], None] = print) -> dict:
    """Warm-up, the mixed run and the burst against a running app; returns the report dict."""
    from gradio_client import Client

    mon = MemoryMonitor(pid)
    report: dict[str, Any] = {"url": url, "clients": clients, "requests_per_client": requests}
    report["rss_before_warmup"] = mon.rss()
    mon.start()

    probe = Client(url, verbose=False)
    listed = discover(probe)
    endpoints = [e for e in listed if e in EXAMPLES]
    report["endpoints"] = endpoints
    report["skipped"] = {e: SKIP[e] for e in listed if e in SKIP}
    report["uncovered"] = [e for e in listed if e not in EXAMPLES and e not in SKIP]
    if report["uncovered"]:
        log("NOTE: endpoints without a load example (add them to bench/load_examples.py): "
            + ", ".join(report["uncovered"]))

    # Warm-up: each endpoint once, one after another (loads the models, fills caches, imports lazily).
    mon.phase = "warmup"
    t0 = time.monotonic()
    warm: list[Record] = []
    for e in endpoints if warmup else []:
        need = EXAMPLES[e].after
        if need:
            call(probe, need, EXAMPLES[need].args(), request_timeout, phase="warmup")
        warm.append(call(probe, e, EXAMPLES[e].args(), max(request_timeout, 300), phase="warmup"))
        log(f"  warm-up {e}: {warm[-1].latency:.2f} s {'ok' if warm[-1].ok else warm[-1].error}")
    probe.close()
    if warmup and clients > 1:
        # ... then one request per client at once: the server's worker threads (and their allocator arenas)
        # are created by concurrency, not by a request as such; the leak check compares like with like.
        rs, _ = run_clients(url, endpoints, clients, 1, deadline=time.monotonic() + request_timeout,
                            request_timeout=request_timeout, seed=seed + 1000)
        warm += rs
        log(f"  warm-up under load: {clients} requests at once, {sum(r.ok for r in rs)} ok")
    report["warmup_s"] = time.monotonic() - t0
    report["warmup_failures"] = {r.endpoint: r.error for r in warm if not r.ok}
    time.sleep(2)
    report["rss_after_warmup"] = mon.rss()

    # The mixed run.
    mon.phase = "run"
    log(f"running {clients} clients x {requests} requests over {len(endpoints)} endpoints "
        f"(at most {max_seconds:.0f} s) ...")
    t0 = time.monotonic()
    records, not_started = run_clients(url, endpoints, clients, requests, deadline=t0 + max_seconds,
                                       request_timeout=request_timeout, seed=seed)
    report["run_s"] = time.monotonic() - t0
    report["not_started"] = not_started
    # RSS at each quarter of the run: a leak climbs steadily, warm-up growth levels off.
    tl = [(t - t0, r) for t, r in mon.timeline]
    report["rss_quarters"] = [next((r for t, r in tl if t >= q * report["run_s"] / 4), None) for q in (1, 2, 3)] + \
        [tl[-1][1] if tl else None]
    mon.phase = "settle"
    time.sleep(3)
    report["rss_after_run"] = mon.rss()
    report["per_endpoint"] = summarise(records)
    report["total_requests"] = len(records)
    report["total_failures"] = sum(s["failures"] for s in report["per_endpoint"].values())

    # The burst: more requests at once than the queue holds.
    if burst_size:
        mon.phase = "burst"
        t0 = time.monotonic()
        b, blocker = burst(url, burst_size, timeout=request_timeout * 2)
        target = BURST_ENDPOINT[0]
        rejected = [r for r in b if r.queue_full]
        report["burst"] = {
            "endpoint": target, "blocker_ok": bool(blocker and blocker.ok), "sent": len(b),
            "completed": sum(r.ok for r in b), "queue_full": len(rejected),
            "other_failures": [r.error for r in b if not r.ok and not r.queue_full][:5],
            "rejection_max_s": max((r.latency for r in rejected), default=None),
            "rejection_message": rejected[0].error if rejected else None, "seconds": time.monotonic() - t0,
        }
        mon.phase = "settle2"
        time.sleep(3)
        report["rss_after_burst"] = mon.rss()
    mon.stop()
    report["rss_peak_warmup"] = mon.peaks.get("warmup")
    report["rss_peak_run"] = mon.peaks.get("run")
    if report["rss_after_warmup"] and report["rss_after_run"]:
        report["rss_growth_pct"] = 100 * (report["rss_after_run"] / report["rss_after_warmup"] - 1)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1, default=str))
    return report


def print_report(r: dict) -> None:
    print_table(f"{r['clients']} clients x {r['requests_per_client']} requests: {r['total_requests']} requests in "
                f"{r['run_s']:.0f} s, {r['total_failures']} failures, {r['not_started']} not started (time limit)",
                r["per_endpoint"])
    if r.get("skipped"):
        print("\nleft out: " + "; ".join(f"{e} ({why})" for e, why in r["skipped"].items()))
    if r.get("uncovered"):
        print("NO EXAMPLE (add to bench/load_examples.py): " + ", ".join(r["uncovered"]))
    if r.get("warmup_failures"):
        print(f"warm-up failures: {r['warmup_failures']}")
    if "burst" in r:
        b = r["burst"]
        print(f"\nburst of {b['sent']} at once on {b['endpoint']}: {b['completed']} completed, {b['queue_full']} "
              f"turned away (slowest rejection {_fmt(b['rejection_max_s'])} s, message {b['rejection_message']!r}), "
              f"other failures {b['other_failures'] or 'none'}, {b['seconds']:.0f} s")
    print(f"\nserver RSS: before warm-up {mb(r['rss_before_warmup'])}, peak during warm-up {mb(r['rss_peak_warmup'])}, "
          f"after warm-up {mb(r['rss_after_warmup'])}, peak during run {mb(r['rss_peak_run'])}, "
          f"after run {mb(r['rss_after_run'])}"
          + (f", after burst {mb(r['rss_after_burst'])}" if "rss_after_burst" in r else ""))
    if r.get("rss_quarters"):
        print("RSS at 1/4, 1/2, 3/4 and the end of the run: " + ", ".join(mb(x) for x in r["rss_quarters"]))
    if "rss_growth_pct" in r:
        g = r["rss_growth_pct"]
        print(f"after run vs after warm-up: {g:+.1f} % ({'OK' if g <= 10 else 'OVER'} the 10 % leak bound)")


def main(argv: list[str] | None = None) -> int:
    import app

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--requests", type=int, default=25, help="requests per client")
    p.add_argument("--max-seconds", type=float, default=900, help="no new request starts after this")
    p.add_argument("--request-timeout", type=float, default=180)
    p.add_argument("--burst", type=int, default=app.QUEUE_MAX_SIZE + 24,
                   help=f"requests sent at once after the run (0: none; the queue holds {app.QUEUE_MAX_SIZE})")
    p.add_argument("--url", help="drive an app that is already running instead of launching one")
    p.add_argument("--pid", type=int, help="with --url: the server's process id, for its memory")
    p.add_argument("--app-arg", action="append", default=[], help="extra app.py argument (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "load.json")
    a = p.parse_args(argv)

    proc = None
    if a.url:
        url, pid = a.url, a.pid
    else:
        t0 = time.monotonic()
        proc, url, log_path = launch_app(a.app_arg)
        pid = proc.pid
        print(f"app.py up at {url} in {time.monotonic() - t0:.1f} s (pid {pid}, log {log_path})")
    try:
        r = run(url, pid, clients=a.clients, requests=a.requests, max_seconds=a.max_seconds,
                request_timeout=a.request_timeout, burst_size=a.burst, seed=a.seed, out=a.out)
        alive = proc is None or proc.poll() is None
        r["server_alive"] = alive
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    print_report(r)
    print(f"server still up at the end: {alive}; report in {a.out}")
    bad = r["total_failures"] or r.get("warmup_failures") or not alive
    bad = bad or ("burst" in r and (r["burst"]["other_failures"] or not r["burst"]["blocker_ok"]))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
