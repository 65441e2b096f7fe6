"""Each tab's sweep through the real app (gradio_client) with the Ray backend: the report names Ray and the
worker count. The tabs' in-process runs are covered in tests/app."""
import json

import pytest
from gradio_client import Client

from tabs.cot import EVALUATE as COT
from tabs.rag import EVALUATION


@pytest.fixture(scope="module")
def client(app_url, local_ray):
    return Client(app_url, verbose=False)


def test_cot_evaluation_runs_on_ray_workers(client):
    out = COT.unpack(client.predict("gemma3-270m", 2, 2, 16, 0, "Ray", 2, False, api_name="/cot_evaluate"))
    assert "**Sweep:** 2/2 items" in out["report"] and "2 workers (ray (local" in out["report"]
    assert "greedy correct" in open(out["export"]).read()


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
