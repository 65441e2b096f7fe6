"""Model graph (Octopus v4): the graph, the routing set, routers on fake embedders and a fake LM, route()."""
import json

import numpy as np
import pytest

from backends import model_graph as MG
from backends.config import InputError
from backends.models import EMBEDDER, LOCAL, LoadedModel, ModelSpec
from tests.fakes import tiny_lm

KEYWORDS = {"arithmetic": ["what is", "compute", "plus", "times"], "code": ["python", "function", "code"],
            "sotu": ["president", "address", "congress"], "chat": ["joke", "poem", "hi"]}


class _BagOfWords:
    """A fake sentence embedder: one dimension per keyword group (plus a bias), so classes separate cleanly."""

    def encode(self, texts, **kwargs):
        rows = []
        for t in texts:
            low = t.lower()
            rows.append([sum(w in low for w in ws) for ws in KEYWORDS.values()] + [0.1])
        return np.asarray(rows, dtype=np.float32)


def fake_embedder(name="all-minilm-l6-v2") -> LoadedModel:
    spec = ModelSpec(name, EMBEDDER, LOCAL, "/nonexistent")
    return LoadedModel(spec, _BagOfWords(), None, "cpu", "float32", 0, 0, 0.0, "folder")


def toy_set():
    qs = {"arithmetic": ["What is 3 plus 4?", "Compute 6 times 7.", "what is 10 times 2"],
          "code": ["Write a Python function.", "Fix my code.", "python function to sort"],
          "sotu": ["What did the president tell Congress?", "In his address, the president said?",
                   "Which president addressed congress in 1862?"],
          "chat": ["Tell me a joke.", "Write a poem.", "hi there, a joke please"]}
    return [MG.Query(q, n, "train") for n, items in qs.items() for q in items]


@pytest.fixture(scope="module")
def graph():
    return MG.load_graph()


def test_builtin_graph_nodes_edges_and_json(graph):
    assert graph.names == ["arithmetic", "code", "sotu", "chat"]
    assert graph.neighbours() == graph.names and graph.master == "router"
    d = graph.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert graph.node("arithmetic").model_for("cpu") == "qwen2.5-coder-1.5b"
    assert graph.node("code").model_for("cpu") == "qwen2.5-coder-0.5b"
    assert graph.node("chat").model_for("cpu") == "smollm2-135m-instruct"
    assert graph.node("sotu").kind == "rag" and graph.node("sotu").model_for("cpu") == "reader"
    assert graph.node("arithmetic").model_for("some-other-profile") == "chat"
    doc = graph.node("code").docstring()
    assert doc.startswith("def code(query: str) -> str:") and "Prompt template" in doc


def test_rewrite_fills_the_template_and_keeps_braces(graph):
    node = graph.node("arithmetic")
    q = "What is {x} + 2 when x = 3?"
    out = node.rewrite(q)
    assert q in out and out.startswith("Solve this math problem") and "{query}" not in out
    assert graph.node("sotu").rewrite("Who?") == "Who?"


def test_bad_nodes_and_graphs_are_refused_with_messages(graph):
    with pytest.raises(InputError, match="must contain"):
        MG.Node("x", "s", "d", "no slot", {"*": "chat"})
    with pytest.raises(InputError, match="kind"):
        MG.Node("x", "s", "d", "{query}", {"*": "chat"}, kind="web")
    with pytest.raises(InputError, match="name"):
        MG.Node("two words", "s", "d", "{query}", {"*": "chat"})
    with pytest.raises(InputError, match="unique"):
        MG.Graph((graph.nodes[0], graph.nodes[0]), ())
    with pytest.raises(InputError, match="lacks"):
        MG.Graph(graph.nodes, (("router", "nowhere"),))
    with pytest.raises(InputError, match="Unknown node"):
        graph.node("nowhere")


def test_with_node_adds_an_edge_from_the_master(graph):
    extra = MG.Node("poetry", "poems", "Writes poems.", "Write a poem: {query}", {"*": "chat"})
    g2 = graph.with_node(extra)
    assert g2.neighbours()[-1] == "poetry" and len(g2.nodes) == 5
    assert graph.with_node(extra).with_node(extra).names.count("poetry") == 1
    assert len(graph.nodes) == 4  # the original is unchanged


def test_routing_set_asset_is_split_by_group(graph):
    rows = MG.load_routing_set()
    assert len(rows) >= 200 and {q.node for q in rows} == set(graph.names)
    train, test = MG.load_routing_set(split="train"), MG.load_routing_set(split="test")
    assert len(train) + len(test) == len(rows)
    assert not {q.group for q in train} & {q.group for q in test}  # held-out phrasings are unseen
    for n in graph.names:
        assert sum(q.node == n for q in test) >= 10
    with pytest.raises(InputError, match="split"):
        MG.load_routing_set(split="dev")
    hard = MG.load_routing_set(split="hard")
    assert {n: sum(q.node == n for q in hard) for n in graph.names} == dict.fromkeys(graph.names, 8)
    assert not {q.query for q in hard} & {q.query for q in rows} and len({q.query for q in hard}) == 32


def test_routing_set_script_reproduces_the_asset():
    import importlib.util

    spec = importlib.util.spec_from_file_location("brs", MG.ASSETS.parent.parent / "scripts" / "build_routing_set.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = mod.build(seed=0)
    assert [json.dumps(r) for r in rows] == MG.ROUTING_PATH.read_text().splitlines()


@pytest.mark.parametrize("method", ["logreg", "centroid"])
def test_embedding_classifiers_learn_the_toy_set(graph, method):
    r = MG.EmbeddingClassifier(fake_embedder(), method).fit([q.query for q in toy_set()],
                                                           [q.node for q in toy_set()], graph)
    assert r.name == f"{method}-minilm" and r.trained_on == 12
    out = r.route(["compute 2 plus 2", "a python function please", "the president's address", "one more joke"],
                  graph)
    assert out.nodes == ["arithmetic", "code", "sotu", "chat"]
    assert out.scores.shape == (4, 4) and out.candidates == graph.names and out.calls == []


def test_untrained_classifier_and_single_class_are_refused(graph):
    r = MG.EmbeddingClassifier(fake_embedder(), "logreg")
    with pytest.raises(InputError, match="not trained"):
        r.route(["x"], graph)
    with pytest.raises(InputError, match="two nodes"):
        r.fit(["a", "b"], ["code", "code"], graph)


def test_similarity_router_uses_the_descriptions(graph):
    r = MG.SimilarityRouter(fake_embedder())
    out = r.route(["Write python code"], graph)
    assert out.nodes == ["code"] and r.name == "similarity-minilm"


def test_prompt_router_lists_every_node_and_scores_only_the_options(graph):
    lm = tiny_lm()
    r = MG.PromptRouter(lm)
    out = r.route(["what is 2 plus 2", "tell me a joke"], graph)
    assert out.scores.shape == (2, 4) and np.allclose(out.scores.sum(1), 1)
    assert set(out.nodes) <= set(graph.names) and len(out.calls) == 2
    call = out.calls[0]
    assert call["model"] == "tiny-llama" and call["role"] == "router"
    for i, n in enumerate(graph.names, 1):
        assert f"{i}. {n}:" in call["prompt"]
    assert "what is 2 plus 2" in call["prompt"]


def test_route_answers_with_the_chosen_worker(graph, monkeypatch):
    router = MG.EmbeddingClassifier(fake_embedder(), "centroid").fit([q.query for q in toy_set()],
                                                                     [q.node for q in toy_set()], graph)
    lm = tiny_lm()
    monkeypatch.setattr(MG, "worker_model", lambda node, profile=None: lm)
    monkeypatch.setattr(MG, "_profile", lambda: "cpu")
    r = MG.route("compute 3 times 4", router=router, graph=graph, max_new_tokens=5)
    assert r.node == "arithmetic" and r.router == "centroid-minilm"
    assert r.rewritten == graph.node("arithmetic").rewrite("compute 3 times 4")
    assert isinstance(r.answer, str) and r.models == {"router": ["all-minilm-l6-v2"], "worker": "tiny-llama"}
    assert len(r.calls) == 1 and r.calls[0]["role"] == "worker" and r.rewritten in r.calls[0]["prompt"]
    assert r.seconds >= r.route_seconds and set(r.scores) == set(graph.names)
    assert json.loads(json.dumps(r.to_dict()))["node"] == "arithmetic"
    quiet = MG.route("compute 3 times 4", router=router, graph=graph, answer=False)
    assert quiet.answer is None and quiet.calls == [] and quiet.models["worker"] == "qwen2.5-coder-1.5b"


def test_route_refuses_bad_input(graph):
    with pytest.raises(InputError, match="empty"):
        MG.route("   ", router=MG.SimilarityRouter(fake_embedder()), graph=graph)
    with pytest.raises(InputError, match="2,000"):
        MG.route("x" * 2_001, router=MG.SimilarityRouter(fake_embedder()), graph=graph)
    with pytest.raises(InputError, match="Unknown router"):
        MG.route("hi", router="magic", graph=graph)
    with pytest.raises(InputError, match="Token limit|token limit"):
        MG.route("hi", router=MG.SimilarityRouter(fake_embedder()), graph=graph, max_new_tokens=0)


def test_evaluate_routing_reports_accuracy_confusion_and_errors(graph):
    router = MG.EmbeddingClassifier(fake_embedder(), "logreg").fit([q.query for q in toy_set()],
                                                                   [q.node for q in toy_set()], graph)
    test = [MG.Query("compute 1 plus 1", "arithmetic", "test"), MG.Query("python code", "code", "test"),
            MG.Query("a joke", "chat", "test"), MG.Query("tell me a joke", "sotu", "test")]  # the last is mislabelled
    rep = MG.evaluate_routing([router], graph=graph, queries=test)
    assert rep.n == 4 and rep.accuracy["logreg-minilm"] == 0.75
    assert rep.per_node["logreg-minilm"]["sotu"] == 0.0 and rep.per_node["logreg-minilm"]["code"] == 1.0
    assert np.asarray(rep.confusion["logreg-minilm"]).sum() == 4
    assert rep.errors == [{"router": "logreg-minilm", "query": "tell me a joke", "gold": "sotu", "chosen": "chat"}]
    assert json.loads(json.dumps(rep.to_dict()))["n"] == 4


def test_functional_tokens_train_new_output_rows_and_leave_the_model_alone(graph):
    lm = tiny_lm()
    before = {k: v.clone() for k, v in lm.model.state_dict().items()}
    r = MG.FunctionalTokenRouter(lm, steps=150, lr=0.05)
    data = toy_set()
    r.fit([q.query for q in data], [q.node for q in data], graph)
    assert r.weight.shape == (4, lm.model.config.hidden_size) and r.trained_on == 12
    assert r.losses[-1] < r.losses[0]
    out = r.route([q.query for q in data], graph)
    assert np.mean([p == q.node for p, q in zip(out.nodes, data)]) >= 0.75  # it fits its training set
    assert out.calls[0]["output"].startswith("<node_") and out.calls[0]["prompt"].startswith("Query: ")
    assert all((v == lm.model.state_dict()[k]).all() for k, v in before.items())
    with pytest.raises(InputError, match="not trained"):
        MG.FunctionalTokenRouter(lm).route(["x"], graph)


def test_end_to_end_compares_graph_oracle_and_single_model(graph, monkeypatch):
    router = MG.EmbeddingClassifier(fake_embedder(), "centroid").fit([q.query for q in toy_set()],
                                                                     [q.node for q in toy_set()], graph)
    lm = tiny_lm()
    monkeypatch.setattr(MG, "worker_model", lambda node, profile=None: lm)
    calls = []

    def fake_answer(node, rewritten, model, *, max_new_tokens=None, deadline=None):
        calls.append((node.name, rewritten))
        return ("42" if node.name in ("arithmetic", "single") else "no idea"), [], {}

    monkeypatch.setattr(MG, "answer_with", fake_answer)
    items = [{"query": "compute 40 plus 2", "gold": ["42"], "node": "arithmetic", "check": "number"},
             {"query": "what is 6 times 7", "gold": ["42"], "node": "chat", "check": "number"}]  # routed elsewhere
    rep = MG.evaluate_end_to_end(items, router=router, single=lm, graph=graph)
    assert rep.complete and rep.total == 2
    assert rep.n == 2 and rep.routing_accuracy == 0.5
    assert rep.accuracy == {"graph": 1.0, "oracle": 0.5, "single": 1.0}
    # The first item's routed answer is the oracle's (no second call); the second needs both nodes.
    assert [c[0] for c in calls] == ["arithmetic", "single", "chat", "arithmetic", "single"]
    assert rep.records[0]["graph seconds"] == rep.records[0]["oracle seconds"]
    assert json.loads(json.dumps(rep.to_dict()))["n"] == 2


def test_answers_are_checked_by_number_or_by_text():
    num = {"gold": ["138"], "check": "number"}
    assert MG.is_right("13 * 11 = 143, minus 5 is 138.", num) and not MG.is_right("It is 139", num)
    assert not MG.is_right(None, num)
    txt = {"gold": ["North Carolina"], "check": "text"}
    assert MG.is_right("He welcomed North Carolina.", txt) and not MG.is_right("Virginia", txt)


def test_end_to_end_streams_item_by_item_and_stops_at_its_budget(graph, monkeypatch):
    router = MG.EmbeddingClassifier(fake_embedder(), "centroid").fit([q.query for q in toy_set()],
                                                                     [q.node for q in toy_set()], graph)
    lm = tiny_lm()
    monkeypatch.setattr(MG, "worker_model", lambda node, profile=None: lm)
    monkeypatch.setattr(MG, "answer_with", lambda node, q, model, **kw: ("42", [], {}))
    items = [{"query": f"compute {i} plus 2", "gold": ["42"], "node": "arithmetic", "check": "number"}
             for i in range(3)]
    reps = list(MG.end_to_end_iter(items, router=router, single=lm, graph=graph))
    assert [(r.n, r.total, r.complete) for r in reps] == [(1, 3, False), (2, 3, False), (3, 3, True)]
    assert reps[-1].accuracy == {"graph": 1.0, "oracle": 1.0, "single": 1.0} and reps[-1].stopped == ""
    import time

    def slow(node, q, model, **kw):
        time.sleep(0.2)
        return "42", [], {}

    monkeypatch.setattr(MG, "answer_with", slow)  # two calls per item (the router picks the labelled node)
    spent = MG.evaluate_end_to_end(items, router=router, single=lm, graph=graph, time_budget_s=0.3)
    assert spent.n == 1 and spent.total == 3 and spent.complete and "after 1 of 3 items" in spent.stopped
    with pytest.raises(InputError, match="must be a dict"):
        MG.evaluate_end_to_end([{"gold": ["1"]}], router=router, single=lm, graph=graph)
    with pytest.raises(InputError, match="not in the graph"):
        MG.evaluate_end_to_end([{**items[0], "node": "nowhere"}], router=router, single=lm, graph=graph)


def test_a_node_without_training_queries_is_unreachable_for_a_classifier(graph):
    router = MG.EmbeddingClassifier(fake_embedder(), "logreg").fit([q.query for q in toy_set()],
                                                                   [q.node for q in toy_set()], graph)
    g2 = graph.with_node(MG.Node("poetry", "poems", "Writes poems.", "Write a poem: {query}", {"*": "chat"}))
    r = MG.route("what is 2 plus 2", router=router, graph=g2, answer=False)
    assert r.scores["poetry"] is None and r.node == "arithmetic"
    assert json.loads(json.dumps(r.to_dict()))["scores"]["poetry"] is None
