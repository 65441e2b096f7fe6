"""The cluster path: a sweep sent to a Ray head started here (`ray start --head`), with the project's code
uploaded as the job's working directory, as a user's cluster would get it. The driver is a separate process
(this one already runs local Ray)."""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).with_name("ray")
DRIVER = """
import json, sys
sys.path.insert(0, {root!r})
from backends import sweeps
sweeps.register_kind("square", "tests.sweep_kinds:SQUARE")
res = sweeps.run_sweep("square", [{{"x": i}} for i in range(6)], {{"offset": 2}}, backend="ray", workers=2,
                       address={address!r}, results_path={path!r})
import ray
print("RESULT" + json.dumps({{"backend": res.backend, "note": res.note, "y": [r["y"] for r in res.results],
                             "pids": sorted({{r["pid"] for r in res.results}}), "still": ray.is_initialized()}}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_sweep_runs_on_a_ray_cluster_by_address(local_ray, tmp_path):
    port = _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token"}  # the cluster's default; both sides read ~/.ray/auth_token
    head = subprocess.Popen([str(RAY), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
                             "--include-dashboard=false", "--disable-usage-stats"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        driver = DRIVER.format(root=str(ROOT), address=f"127.0.0.1:{port}", path=str(tmp_path / "r.jsonl"))
        deadline = time.monotonic() + 120
        while True:  # the head takes a few seconds to listen
            out = subprocess.run([sys.executable, "-c", driver], env=env, capture_output=True, text=True,
                                 timeout=150, cwd=tmp_path)
            line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT")), None)
            assert line is not None, out.stderr[-2000:]
            got = json.loads(line[len("RESULT"):])
            if got["backend"] != "local" or time.monotonic() > deadline:
                break
            time.sleep(3)
        assert got["backend"] == f"ray (127.0.0.1:{port})", got["note"]
        assert got["y"] == [i * i + 2 for i in range(6)] and len(got["pids"]) == 2
        assert got["still"] is False  # the sweep connected to the cluster, so it disconnected when done
    finally:
        os.killpg(head.pid, 15)
        head.wait(timeout=60)
