"""The CoT path explorer through gradio_client."""
import pytest

pytestmark = pytest.mark.app


def test_explore_end_to_end(client):
    summary, paths_html, chart, table, csv_path = client.predict(
        "Janet has 3 apples and buys 5 more. How many apples does she have now?", "gemma3-270m", 4, 0, 32, "auto",
        api_name="/cot_explore")
    assert "Greedy answer" in summary and "Aggregated" in summary
    rows = table["data"] if isinstance(table, dict) else table
    assert len(rows) == 4 and 'class="cot-path"' in paths_html
    assert open(csv_path).read().startswith("rank,first_token")


def test_explore_bad_input(client):
    with pytest.raises(Exception, match="empty"):
        client.predict("  ", "gemma3-270m", 4, 0, 32, "auto", api_name="/cot_explore")
    with pytest.raises(Exception, match="maximum|between"):
        client.predict("What is 2+2?", "gemma3-270m", 50, 0, 32, "auto", api_name="/cot_explore")


def test_evaluate_one_problem(client):
    md, csv_path = client.predict("gemma3-270m", 1, 3, 24, 2, api_name="/cot_evaluate")
    assert "greedy" in md and "self-consistency" in md
    assert "greedy correct" in open(csv_path).read()
