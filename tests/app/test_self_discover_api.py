"""The Self-Discover tab through gradio_client (tiny profile, replies cut to a few tokens)."""
import json

import pytest

from tabs.self_discover import DISCOVER, EVALUATE, SOLVE, TASK

pytestmark = [pytest.mark.app, pytest.mark.usefixtures("one_thread")]  # small models, a shared CPU
MODEL = "smollm2-135m-instruct"




PLAN = '{"List the quantities": "", "Combine them": "", "Final answer": ""}'


def test_task_discover_and_solve(client):
    task = TASK.unpack(client.predict("date_arithmetic", api_name="/self_discover_task"))
    assert task["answer_type"] == "date" and len(task["examples"].splitlines()) == 3
    out = DISCOVER.unpack(client.predict("your own examples", MODEL, "Tom has 4 marbles and buys 3 more. How many?",
                                         8, api_name="/self_discover_discover"))
    assert "SELECT" in out["calls"] and "ADAPT" in out["calls"] and "IMPLEMENT" in out["calls"]
    assert "Prompt, verbatim" in out["calls"] and "LM calls" in out["summary"]
    saved = json.load(open(out["json"]))
    assert saved["n_calls"] in (3, 4) and saved["ok"] == bool(out["structure"])
    assert out["structure"] or "No usable structure" in out["summary"]
    sol = SOLVE.unpack(client.predict(PLAN, "Sofia has 16 stamps and buys 2 more. How many?", "number", "", MODEL, 8,
                                      api_name="/self_discover_solve"))
    assert "Answer:" in sol["summary"] and "1 LM call" in sol["summary"] and "List the quantities" in sol["call"]


def test_bad_input_gets_a_message(client):
    with pytest.raises(Exception, match="not a JSON object"):
        client.predict("first think, then answer", "What is 2 + 2?", "number", "", MODEL, 8,
                       api_name="/self_discover_solve")
    with pytest.raises(Exception, match="needs its options"):
        client.predict(PLAN, "True or False?", "choice", "", MODEL, 8, api_name="/self_discover_solve")
    with pytest.raises(Exception, match="'matched' or numbers"):
        client.predict("arithmetic", MODEL, 1, 1, "two", 0, 8, 60, api_name="/self_discover_evaluate")
    with pytest.raises(Exception, match="Unknown model|not in the list of choices"):
        client.predict("arithmetic", "no-such-model", 1, 1, "matched", 0, 8, 60, api_name="/self_discover_evaluate")


def test_evaluation_streams_to_a_table_and_exports(client):
    out = EVALUATE.unpack(client.predict("boolean_expressions", MODEL, 1, 1, "2", 0, 8, 120,
                                         api_name="/self_discover_evaluate"))
    assert "Done in" in out["report"] and "stage-1 calls" in out["report"]
    rows = out["table"]["data"]
    assert [r[0] for r in rows] == ["direct", "cot", "self-discover", "cot-sc (k=2)"]
    assert rows[3][3] == 2 and rows[0][3] == 1
    saved = json.load(open(out["json"]))
    assert saved["n"] == 1 and saved["structure"]["calls"][0]["stage"] == "select"
    assert open(out["csv"]).read().startswith("# boolean_expressions")
