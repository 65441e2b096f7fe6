"""The CoT path explorer through gradio_client."""
import pytest

from tabs.cot import EVALUATE, EXPLORE

pytestmark = pytest.mark.app


def test_explore_end_to_end(client):
    out = EXPLORE.unpack(client.predict(
        "Janet has 3 apples and buys 5 more. How many apples does she have now?", "gemma3-270m", 4, 0, 32, "auto",
        api_name="/cot_explore"))
    assert "Greedy answer" in out["summary"] and "Aggregated" in out["summary"]
    table = out["table"]
    rows = table["data"] if isinstance(table, dict) else table
    assert len(rows) == 4 and 'class="cot-path"' in out["paths"]
    assert open(out["export"]).read().startswith("rank,first_token")


def test_explore_bad_input(client):
    with pytest.raises(Exception, match="empty"):
        client.predict("  ", "gemma3-270m", 4, 0, 32, "auto", api_name="/cot_explore")
    with pytest.raises(Exception, match="maximum|between"):
        client.predict("What is 2+2?", "gemma3-270m", 50, 0, 32, "auto", api_name="/cot_explore")


def test_evaluate_one_problem(client):
    out = EVALUATE.unpack(client.predict("gemma3-270m", 1, 3, 24, 2, "in-process", 1, False,
                                         api_name="/cot_evaluate"))
    assert "greedy" in out["report"] and "self-consistency" in out["report"]
    assert "**Sweep:** 1/1 items" in out["report"] and "(local)" in out["report"]
    assert "greedy correct" in open(out["export"]).read()


def test_evaluate_bad_sweep_settings(client):
    with pytest.raises(Exception, match="minimum value 1|Workers must be between"):
        client.predict("gemma3-270m", 1, 3, 24, 2, "in-process", 0, False, api_name="/cot_evaluate")
