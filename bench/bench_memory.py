"""Memory over a visit to every tab: each paper tab's first example through the app, in tab order, with the app's
resident memory (RSS) and peak after each.

    .venv/bin/python bench/bench_memory.py [--profile cpu] [--budget-gb 8] [--warm]

The app runs as its own process (``python app.py``, no warm-up unless --warm), so its memory is read from
/proc/<pid>/status (VmRSS now, VmHWM the peak). The registry's view (the loaded models against the budget) comes
from the app's /models_memory endpoint. Requests are those of bench/first_examples.py.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _status(pid: int) -> tuple[float, float]:
    """(RSS, peak RSS) of a process in GB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 2**20, int(fields["VmHWM"].split()[0]) / 2**20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--budget-gb", type=float, default=None, help="WORKBENCH_MEMORY_GB for the app (default: its own)")
    ap.add_argument("--warm", action="store_true", help="let the app warm up (load its models) first")
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args()
    from bench.first_examples import connect, examples, free_port, run

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WORKBENCH_WARM": "1" if args.warm else "0"}
    if args.budget_gb:
        env["WORKBENCH_MEMORY_GB"] = str(args.budget_gb)
    app = subprocess.Popen([sys.executable, "app.py", "--profile", args.profile, "--port", str(port)], cwd=ROOT,
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        t0 = time.perf_counter()
        client = connect(port, app, 300)
        load = os.getloadavg()[0]
        rss, peak = _status(app.pid)
        print(f"# profile {args.profile}, {os.cpu_count()} cores, load average {load:.1f} at start; "
              f"budget {args.budget_gb or 'default'} GB")
        print(f"{'tab':28s} {'ok':4s} {'s':>7s} {'RSS GB':>7s} {'peak GB':>8s}  models (registry)")
        print(f"{'(serving)':28s} {'':4s} {time.perf_counter() - t0:7.1f} {rss:7.2f} {peak:8.2f}")
        worst = peak
        for ex in examples():
            ok, message, seconds = run(client, ex, args.timeout)
            rss, peak = _status(app.pid)
            worst = max(worst, peak)
            held = client.predict(api_name="/models_memory").split("hold ")[1].split(" budget")[0]
            print(f"{ex.tab[:28]:28s} {'ok' if ok else 'FAIL':4s} {seconds:7.1f} {rss:7.2f} {peak:8.2f}  {held}"
                  + (f"\n    {message}" if message else ""), flush=True)
        print(f"peak RSS over the visit: {worst:.2f} GB")
    finally:
        os.killpg(app.pid, 15)
        app.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
