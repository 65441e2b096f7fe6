"""The model graph on the packaged models (tiny profile): routing accuracy on the held-out set, route() end to end."""

import pytest

from backends import model_graph as MG

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def report(registry):
    return MG.evaluate_routing(["logreg-minilm", "centroid-minilm", "similarity-minilm"], split="test")


def test_trained_routers_route_held_out_phrasings(report):
    assert report.n == len(MG.load_routing_set(split="test")) and report.trained_on["logreg-minilm"] > 150
    # Measured on the 88 held-out queries (templates never seen in training), tiny profile: logreg-minilm 1.00,
    # centroid-minilm 1.00, similarity-minilm 0.89, logreg-mpnet 1.00, centroid-mpnet 0.99, similarity-mpnet 0.91,
    # functional-tokens (SmolLM2-135M) 0.99, prompt (SmolLM2-135M) 0.27.
    assert report.accuracy["logreg-minilm"] >= 0.9, report.accuracy
    assert report.accuracy["centroid-minilm"] >= 0.85, report.accuracy
    # Similarity to the node descriptions needs no training, and is worse than both classifiers.
    assert report.accuracy["similarity-minilm"] < report.accuracy["logreg-minilm"], report.accuracy
    assert report.models["logreg-minilm"] == ["all-minilm-l6-v2"]


def test_hand_written_queries_in_other_styles(registry):
    # Measured (32 queries, 8 per node): logreg-minilm 0.97, centroid-minilm 0.94, similarity-minilm 0.84,
    # logreg-mpnet 1.00, similarity-mpnet 0.84. Code questions without the word "code" are the hard ones.
    rep = MG.evaluate_routing(["logreg-minilm", "similarity-minilm"], split="hard")
    assert rep.n == 32 and rep.accuracy["logreg-minilm"] >= 0.9, rep.accuracy
    assert rep.accuracy["similarity-minilm"] < rep.accuracy["logreg-minilm"], rep.accuracy


def test_route_sends_a_sotu_question_to_the_rag_node(registry):
    # Routing only: the RAG answer needs the SOTU index (tens of seconds); the browser test answers one.
    q = "In which harbor was the battleship Maine destroyed, according to McKinley's 1898 message?"
    r = MG.route(q, answer=False)
    assert r.node == "sotu" and r.rewritten == q and r.router == MG.DEFAULT_ROUTER and r.answer is None
    assert max(r.scores, key=r.scores.get) == "sotu" and r.calls == []


def test_route_rewrites_an_arithmetic_query_for_its_node(registry):
    r = MG.route("What is 17 + 25?", max_new_tokens=8)
    assert r.node == "arithmetic" and r.rewritten.startswith("Solve this math problem")
    assert r.calls[-1]["model"] == "smollm2-135m-instruct" and r.rewritten in r.calls[-1]["prompt"]
    assert r.answer_seconds > 0 and r.route_seconds < r.seconds and r.answer is not None
    # Measured on the 88 held-out queries, the prompt router (SmolLM2-135M reading the four descriptions) names
    # option 1 (arithmetic) for every query (27 %): a model this small cannot read the descriptions and choose,
    # the paper's reason for functional tokens. (Its mechanics are unit-tested with a fake LM.)


def test_memory_cost_of_the_loaded_workers(registry):
    registry.get("smollm2-135m-instruct")
    cost = MG.memory_cost(router="logreg-minilm")
    assert cost["profile"] == registry.profile and cost["models"][0]["model"] == "smollm2-135m-instruct"
    assert cost["total_mb"] >= cost["largest_mb"] > 0 and cost["single"]["model"] == registry.resolve("chat")
    assert "router" in cost["models"][-1]["role"] and cost["single_mb"] > 0
