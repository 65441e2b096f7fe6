"""The Model graph tab through gradio_client: a route with its answers, a node added for the session, the routing
panel and the end-to-end panel on one item of each kind, bad input."""
import json

import pytest

from tabs.model_graph import E2E, ROUTE, ROUTING, TRANSLATION_EXAMPLES

pytestmark = pytest.mark.app

CHAT = "Hi! Can you recommend a good board game for a family evening?"


def test_route_shows_the_route_the_answer_and_one_model(client):
    out = ROUTE.unpack(client.predict(CHAT, "logreg-minilm", True, 8, api_name="/model_graph_route"))
    assert "-> worker **chat**" in out["summary"] and "Done in" in out["summary"]
    assert out["rewritten"] == CHAT and out["answer"] and out["single"]
    assert [c["role"] for c in out["calls"]] == ["worker", "worker"] and CHAT in out["calls"][0]["prompt"]
    with open(out["json"]) as f:
        saved = json.load(f)
    assert saved["route"]["node"] == "chat" and saved["route"]["router"] == "logreg-minilm"
    assert set(saved["route"]["scores"]) == {"arithmetic", "code", "sotu", "chat"}
    assert saved["single"]["node"] == "single"


def test_a_session_node_with_examples_is_routed_to(client):
    # gradio_client keeps one session, so the added node stays for the route below; State is not in the API.
    message, _, table = client.predict("translation", "smollm2-135m-instruct", "translation between languages",
                                       "Translates short texts between English, French, German and Spanish.",
                                       "Translate as asked, and give only the translation. {query}",
                                       TRANSLATION_EXAMPLES, api_name="/model_graph_add_node")
    assert "Added node **translation**" in message and "4 example queries" in message
    assert [r[0] for r in table["data"]][-1] == "translation" and table["data"][-1][-1] == 4
    try:
        out = ROUTE.unpack(client.predict('Translate "see you tomorrow" into Spanish.', "logreg-minilm", False, 8,
                                          api_name="/model_graph_route"))
        assert "-> worker **translation**" in out["summary"], out["summary"]
        assert out["rewritten"].startswith("Translate as asked") and out["single"] == ""
    finally:
        message, _, table = client.predict(api_name="/model_graph_reset")
    assert len(table["data"]) == 4
    with pytest.raises(Exception, match="template must contain"):
        client.predict("x", "smollm2-135m-instruct", "s", "", "no slot", "", api_name="/model_graph_add_node")
    with pytest.raises(Exception, match="Node name is empty|empty"):
        client.predict(" ", "smollm2-135m-instruct", "s", "", "{query}", "", api_name="/model_graph_add_node")


def test_routing_panel(client):
    out = ROUTING.unpack(client.predict(["similarity-minilm"], ["hard"], api_name="/model_graph_routing"))
    assert "Done in" in out["summary"] and "similarity-minilm" in out["summary"]
    rows = out["table"]["data"]
    assert [(r[0], r[1], r[2]) for r in rows] == [("similarity-minilm", "hard", 32)] and 0.5 < rows[0][3] < 1
    with open(out["json"]) as f:
        assert json.load(f)[0]["split"] == "hard"
    with pytest.raises(Exception, match="Pick at least one router"):
        client.predict([], ["hard"], api_name="/model_graph_routing")


def test_end_to_end_panel_and_bad_input(client):
    out = E2E.unpack(client.predict(1, "logreg-minilm", 8, 0, False, api_name="/model_graph_end_to_end"))
    assert "2 of 2 items" in out["summary"] and "Done in" in out["summary"]
    assert [r[0] for r in out["table"]["data"]] == ["arithmetic", "sotu"]
    with open(out["json"]) as f:
        saved = json.load(f)
    assert saved["report"]["n"] == 2 and saved["memory"]["single"]["model"] == "smollm2-135m-instruct"
    with pytest.raises(Exception, match="Seed must be"):
        client.predict(1, "logreg-minilm", 8, -1, False, api_name="/model_graph_end_to_end")
    with pytest.raises(Exception, match="empty"):
        client.predict("  ", "logreg-minilm", True, 8, api_name="/model_graph_route")
