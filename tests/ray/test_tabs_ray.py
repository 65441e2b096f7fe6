"""A tab's sweep through the real app (gradio_client) on real Ray workers: the report names Ray and the worker
count, and RAG's figures equal the in-process run's. Every sweep tab reports through the one runner
(tabs.common.stream_sweep), so one tab stands for all: that each tab hands its Ray choice and worker count to that
runner is tests/app/test_sweep_wiring.py, and each sweep kind's figures on two Ray workers are
tests/ray/test_*_ray.py (CoT's: test_cot_ray.py)."""
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

