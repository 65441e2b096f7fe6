"""Each sweep tab hands its backend choice and worker count to the one sweep runner (tabs.common.stream_sweep ->
backends.sweeps.sweep_iter): the "Ray" radio and the workers slider reach it as ("ray", n) for every tab.

The sweep is replaced by a recorder here, so no Ray starts; real Ray runs of each kind are tests/ray/test_*_ray.py,
and two tabs run on real Ray workers through the app in tests/ray/test_tabs_ray.py (the report's wording is the
shared runner's, the same for every tab)."""
import pytest
from gradio_client.exceptions import AppError

from backends.config import InputError

pytestmark = pytest.mark.app

# (endpoint, its arguments with backend "Ray" and 1 worker (the sliders default to 2), the sweep kind it must run)
CALLS = [
    ("/detect_evaluate", ("smollm2-135m-instruct", "smollm2-135m-instruct", "observer", 10.0, 5, "Ray", 1, False),
     "detector"),
    ("/bandit_grid", ("hard", 5, 0.2, "", 0, ["ucb"], 50, 1.0, 0.1, "smollm2-135m-instruct", 16, "BNRN0, BNRN1", 4, 1,
                      "Ray", 1, False), "bandits"),
    ("/early_exit_sweep", ("Once upon a time", "smollm2-135m-instruct", "12, 20", "2", 4, "fixed (paper)", "Ray", 1,
                           False), "speculation"),
    ("/cot_evaluate", ("smollm2-135m-instruct", 2, 2, 16, 0, "Ray", 1, False), "cot"),
    ("/rag_evaluate", (4, 5, [], 0.1, 12, "hybrid", "rrf", 0.5, "all-minilm-l6-v2", "built-in", "Ray", 1, False),
     "rag"),
]


@pytest.mark.parametrize("endpoint,args,kind", CALLS, ids=[c[0] for c in CALLS])
def test_the_ray_choice_reaches_the_sweep(client, monkeypatch, endpoint, args, kind):
    from backends import sweeps

    seen = []

    def recorder(name, items, options, *, backend, workers, **kw):
        seen.append((name, backend, workers, len(items)))
        raise InputError("recorded by the test")
        yield  # a generator, as the real one

    monkeypatch.setattr(sweeps, "sweep_iter", recorder)
    with pytest.raises(AppError, match="recorded by the test"):
        client.predict(*args, api_name=endpoint)
    assert len(seen) == 1 and seen[0][:3] == (kind, "ray", 1) and seen[0][3] >= 1, seen
