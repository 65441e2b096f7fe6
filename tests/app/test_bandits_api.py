"""The bandit playground through gradio_client: baselines and a short LLM run, end to end."""
import csv
import json

import pytest

from tabs import bandits as tab

pytestmark = pytest.mark.app


def _run(client, kind="hard", horizon=20, reps=200, baselines=("ucb", "ts", "greedy"), codes=(), llm_reps=1,
         means="", seed=0) -> dict:
    """The endpoint's outputs by name (the client returns all but the state, which stays on the server)."""
    out = client.predict(kind, 5, 0.2, means, horizon, reps, list(baselines), list(codes), llm_reps,
                         "smollm2-135m-instruct", 32, 1.0, 0.1, seed, api_name="/bandit_run")
    return tab.RESULT.unpack([*out, None])


def test_baselines_and_an_llm_agent_end_to_end(client):
    out = _run(client, horizon=8, codes=["BNRN0"], llm_reps=2)
    summary, table, transcript = out["summary"], out["table"], out["transcript"]
    stats_csv, decisions_csv, report_json = out["stats_csv"], out["decisions_csv"], out["report_json"]
    assert "LLM BNRN0" in summary and "answers parsed 16" in summary
    rows = table["data"] if isinstance(table, dict) else table
    assert [r[0] for r in rows] == ["UCB", "Thompson sampling", "Greedy", "LLM BNRN0"]
    assert "round 8" in transcript and "<details" in transcript
    with open(decisions_csv) as f:
        decisions = list(csv.DictReader(f))
    llm = [d for d in decisions if d["agent"] == "LLM BNRN0"]
    assert len(llm) == 16 and {d["label"] for d in llm} <= {"blue", "green", "red", "yellow", "purple"}
    report = json.load(open(report_json))
    assert report["horizon"] == 8 and len(report["agents"]) == 4
    assert report["agents"][3]["parse"] == {"ok": 16, "lenient": 0, "fallback": 0}
    assert "SuffFailFreq" in open(stats_csv).read()


def test_same_seed_same_run(client):
    a = _run(client, kind="easy", horizon=30, reps=100)["table"]
    b = _run(client, kind="easy", horizon=30, reps=100)["table"]
    assert a == b


def test_prompt_preview_endpoint(client):
    system, user = client.predict("BSSC~0", 5, 100, api_name="/bandit_prompt")
    assert "bandit algorithm" in system and "think step by step" in system
    assert "Summary of each button" in user and "Remember to think step by step" in user


@pytest.mark.parametrize("args,message", [
    (dict(codes=["BXRN0"]), "Unknown prompt code"),
    (dict(kind="custom", means="0.2, 1.4"), "between 0.0 and 1.0"),
    (dict(baselines=(), codes=()), "at least one agent"),
    (dict(codes=["BSRC0"], horizon=500, llm_reps=20), "would take about"),
])
def test_bad_input_is_a_clear_message(client, args, message):
    with pytest.raises(Exception, match=message):
        _run(client, **args)


def _grid(client, codes="BNRN0, BNRN1", horizon=4, reps=1, backend="in-process"):
    out = client.predict("hard", 5, 0.2, "", 0, ["ucb", "greedy"], 50, 1.0, 0.1, "smollm2-135m-instruct", 16, codes,
                         horizon, reps, backend, 1, False, api_name="/bandit_grid")
    return tab.GRID.unpack(out)


def test_grid_of_prompt_designs(client):
    out = _grid(client)
    table = out["table"]
    header, rows = (table["headers"], table["data"]) if isinstance(table, dict) else (None, table)
    assert [r[0] for r in rows] == ["UCB", "Greedy", "LLM BNRN0", "LLM BNRN1"]
    assert header is None or "fallback" in header
    assert "2 designs in" in out["report"] and "2/2 items" in out["report"]
    with open(out["decisions_csv"]) as f:
        decisions = [r for r in csv.DictReader(line for line in f if not line.startswith("#"))]
    assert sum(d["agent"] == "LLM BNRN0" for d in decisions) == 4 and "SuffFailFreq" in open(out["stats_csv"]).read()


@pytest.mark.parametrize("codes,message", [("Q*", "matches no prompt code"), ("BNRN0, nope", "Unknown prompt code"),
                                           ("", "Choose prompt codes")])
def test_grid_bad_filters_are_clear_messages(client, codes, message):
    with pytest.raises(Exception, match=message):
        _grid(client, codes=codes)
