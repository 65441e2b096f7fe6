"""Each tab's sweep through the real app (gradio_client) with the Ray backend: the report names Ray and the
worker count. The tabs' in-process runs are covered in tests/app."""
import pytest
from gradio_client import Client

from tabs.cot import EVALUATE as COT


@pytest.fixture(scope="module")
def client(app_url, local_ray):
    return Client(app_url, verbose=False)


def test_cot_evaluation_runs_on_ray_workers(client):
    out = COT.unpack(client.predict("gemma3-270m", 2, 2, 16, 0, "Ray", 2, False, api_name="/cot_evaluate"))
    assert "**Sweep:** 2/2 items" in out["report"] and "2 workers (ray (local" in out["report"]
    assert "greedy correct" in open(out["export"]).read()
