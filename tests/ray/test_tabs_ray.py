"""Each tab's sweep through the real app (gradio_client) with the Ray backend: the report names Ray and the
worker count. The tabs' in-process runs are covered in tests/app, and the Ray radio and worker slider are the API's
backend and workers arguments (the browser tests check the tabs render and stream)."""
import json

import pytest
from gradio_client import Client

from tabs.rag import EVALUATION


@pytest.fixture(scope="module")
def client(app_url, local_ray):
    return Client(app_url, verbose=False)


def test_evaluate_on_ray_workers_gives_the_in_process_figures(client):
    """Retrieval only on four questions: one Ray worker loads the embedder and the cached index by name."""
    args = (4, 5, [], 0.1, 12, "hybrid", "rrf", 0.5, "all-minilm-l6-v2", "built-in")
    local = EVALUATION.unpack(client.predict(*args, "in-process", 1, False, api_name="/rag_evaluate"))
    ray = EVALUATION.unpack(client.predict(*args, "Ray", 1, False, api_name="/rag_evaluate"))
    assert "4 of 4 questions" in ray["summary"] and "(ray (local" in ray["summary"]
    assert "(local)" in local["summary"]
    by_local, by_ray = (json.load(open(out["json"])) for out in (local, ray))
    assert by_ray["recall_by_retrieval"] == by_local["recall_by_retrieval"]
    for a, b in zip(by_ray["records"], by_local["records"]):  # ranks exact; scores up to float noise
        assert {k: v for k, v in a.items() if k != "top_score"} == {k: v for k, v in b.items() if k != "top_score"}
        assert a["top_score"] == pytest.approx(b["top_score"], abs=2e-4)
    assert by_ray["settings"]["backend"].startswith("ray") and by_ray["sweep"]["workers"] == 1


def test_detector_benchmark_runs_on_a_ray_worker(client):
    from tabs.detector import EVALUATION as DET

    out = DET.unpack(client.predict("smollm2-135m-instruct", "smollm2-135m-instruct", "observer", 10.0, 5, "Ray", 1,
                                    False, api_name="/detect_evaluate"))
    assert "AUROC" in out["summary"] and "1 worker (ray (local" in out["summary"]


def test_bandit_grid_runs_on_a_ray_worker(client):
    from tabs.bandits import GRID

    out = GRID.unpack(client.predict("hard", 5, 0.2, "", 0, ["ucb"], 50, 1.0, 0.1, "smollm2-135m-instruct", 16,
                                     "BNRN0, BNRN1", 4, 1, "Ray", 1, False, api_name="/bandit_grid"))
    assert "2/2 items" in out["report"] and "1 worker (ray (local" in out["report"]


def test_speculation_sweep_runs_on_a_ray_worker(client):
    from tabs.early_exit import SWEEP

    out = SWEEP.unpack(client.predict("Once upon a time", "smollm2-135m-instruct", "12, 20", "2", 4, "fixed (paper)",
                                      "Ray", 1, False, api_name="/early_exit_sweep"))
    rows = out["table"]["data"] if isinstance(out["table"], dict) else out["table"]
    assert [r[:2] for r in rows] == [[12, 2], [20, 2]] and all(r[4] is True for r in rows)
    assert "2/2 items" in out["report"] and "1 worker (ray (local" in out["report"]


def test_cot_evaluation_runs_on_two_ray_workers(client, registry):
    """Two problems as a sweep on two local Ray workers (the backend's figures against in-process:
    tests/ray/test_cot_ray.py)."""
    from tabs.cot import EVALUATE

    out = EVALUATE.unpack(client.predict(registry.slots["base"], 2, 2, 16, 0, "Ray", 2, False,
                                         api_name="/cot_evaluate"))
    assert "problems in" in out["report"] and "2/2 items" in out["report"], out["report"]
    assert "2 workers (ray (local" in out["report"]
    assert out["export"] and open(out["export"]).read().count("\n") >= 3  # a header and the two problems
