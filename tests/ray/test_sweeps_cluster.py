"""The cluster path: a sweep sent to a running Ray by its address, with the project's code uploaded as the job's
working directory, as a user's cluster would get it. The Ray is the one this tier started (its head listens like
a `ray start --head`; starting a second Ray here cost the suite 20 s); the driver is a separate process."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
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


def test_a_sweep_runs_on_a_ray_cluster_by_address(local_ray, tmp_path):
    from backends import sweeps

    address = local_ray.get_runtime_context().gcs_address
    sweeps.release_idle_workers()  # this process's idle workers would hold the CPUs the driver's job waits for
    driver = DRIVER.format(root=str(ROOT), address=address, path=str(tmp_path / "r.jsonl"))
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_RAY_ADDRESS"}
    out = subprocess.run([sys.executable, "-c", driver], env=env, capture_output=True, text=True, timeout=150,
                         cwd=tmp_path)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT")), None)
    assert line is not None, out.stderr[-2000:]
    got = json.loads(line[len("RESULT"):])
    assert got["backend"] == f"ray ({address})", got["note"]
    assert got["y"] == [i * i + 2 for i in range(6)] and len(got["pids"]) == 2
    assert got["still"] is False  # the sweep connected to the cluster, so it disconnected when done
