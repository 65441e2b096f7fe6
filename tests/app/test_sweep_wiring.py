"""Each sweep tab hands its backend choice and worker count to the one sweep runner (tabs.common.stream_sweep ->
backends.sweeps.sweep_iter): the "Ray" radio and the workers slider reach it as ("ray", 1) for every tab (1, not
the sliders' default 2, so that a tab ignoring the slider fails).

The sweep is replaced by a recorder here, so no Ray starts; real Ray runs of each kind are tests/ray/test_*_ray.py,
and two tabs run on real Ray workers through the app in tests/ray/test_tabs_ray.py (the report's wording is the
shared runner's, the same for every tab)."""
import pytest
from gradio_client.exceptions import AppError

from backends.config import InputError
from bench.first_examples import FirstExample, arguments

pytestmark = pytest.mark.app

# Every endpoint with "backend" and "workers" parameters, and the sweep kind it runs; the other arguments keep the
# UI's defaults (the recorder stops the request before any work).
KINDS = {"/detect_evaluate": "detector", "/bandit_grid": "bandits", "/early_exit_sweep": "speculation",
         "/cot_evaluate": "cot", "/rag_evaluate": "rag"}
# Endpoints with those parameters that do not run a sweep, and why.
NOT_SWEEPS = {"/lte_run": "its heads run on a Ray worker pool (backends.sweeps.worker_pool): tests/ray/test_lte_ray.py"}


def test_every_endpoint_with_a_backend_choice_is_checked_here(client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    with_backend = {e for e, info in api.items()
                    if {"backend", "workers"} <= {p["parameter_name"] for p in info["parameters"]}}
    assert with_backend == set(KINDS) | set(NOT_SWEEPS)


@pytest.mark.parametrize("endpoint", KINDS)
def test_the_ray_choice_reaches_the_sweep(client, monkeypatch, endpoint):
    from backends import sweeps

    seen = []

    def recorder(name, items, options, *, backend, workers, **kw):
        seen.append((name, backend, workers, len(items)))
        raise InputError("recorded by the test")
        yield  # a generator, as the real one

    monkeypatch.setattr(sweeps, "sweep_iter", recorder)
    args = arguments(client, FirstExample("", endpoint, {"backend": "Ray", "workers": 1}, ""))
    with pytest.raises(AppError, match="recorded by the test"):
        client.predict(*args, api_name=endpoint)
    assert len(seen) == 1 and seen[0][:3] == (KINDS[endpoint], "ray", 1) and seen[0][3] >= 1, seen
