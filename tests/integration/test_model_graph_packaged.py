"""The model graph on the packaged models (tiny profile): routing accuracy on the held-out set, route() end to end."""
import json

import pytest

from backends import model_graph as MG

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def report(registry):
    return MG.evaluate_routing(["logreg-minilm", "centroid-minilm", "similarity-minilm"], split="test")


def test_trained_routers_route_held_out_phrasings(report):
    assert report.n == len(MG.load_routing_set(split="test")) and report.trained_on["logreg-minilm"] > 150
    # Measured on the 88 held-out queries (templates never seen in training): see the module's closing figures.
    assert report.accuracy["logreg-minilm"] >= 0.9, report.accuracy
    assert report.accuracy["centroid-minilm"] >= 0.85, report.accuracy
    # Similarity to the node descriptions needs no training, and is worse than both classifiers.
    assert report.accuracy["similarity-minilm"] < report.accuracy["logreg-minilm"], report.accuracy
    assert report.models["logreg-minilm"] == ["all-minilm-l6-v2"]


def test_route_sends_a_sotu_question_through_rag(registry):
    q = "In which harbor was the battleship Maine destroyed, according to McKinley's 1898 message?"
    r = MG.route(q, max_new_tokens=12)
    assert r.node == "sotu" and r.rewritten == q and r.router == MG.DEFAULT_ROUTER
    assert r.models["worker"] == registry.resolve("reader") and r.answer
    assert r.extra["passages"] and len(r.calls) == 1 and "Passage" in r.calls[0]["prompt"]
    assert json.loads(json.dumps(r.to_dict()))["node"] == "sotu"


def test_route_rewrites_an_arithmetic_query_for_its_node(registry):
    r = MG.route("What is 17 + 25?", max_new_tokens=24)
    assert r.node == "arithmetic" and r.rewritten.startswith("Solve this math problem")
    assert r.calls[-1]["model"] == "smollm2-135m-instruct" and r.rewritten in r.calls[-1]["prompt"]
    assert r.answer_seconds > 0 and r.route_seconds < r.seconds
    single = MG.single_model("What is 17 + 25?", max_new_tokens=24)
    assert single.node == "single" and single.rewritten == "What is 17 + 25?" and single.answer is not None


def test_prompt_router_on_the_chat_model(registry):
    rows = MG.load_routing_set(split="test")[:8]
    out = MG.trained_router("prompt").route([q.query for q in rows], MG.load_graph())
    assert len(out.calls) == 8 and all(n in MG.load_graph().names for n in out.nodes)


def test_memory_cost_of_the_loaded_workers(registry):
    registry.get("smollm2-135m-instruct")
    cost = MG.memory_cost()
    assert cost["profile"] == registry.profile and cost["models"][0]["model"] == "smollm2-135m-instruct"
    assert cost["total_mb"] >= cost["largest_mb"] > 0
