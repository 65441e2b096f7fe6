"""The Depth up-scaling tab through gradio_client: a tiny experiment, the step-0 view, bad inputs."""
import csv
import json

import pytest

from tabs.dus import RUN, STEP0

pytestmark = pytest.mark.app


def test_tiny_experiment_end_to_end(client):
    out = RUN.unpack(client.predict(4, 1, 10, 10, 0, 32, 1e-3, ["DUS", "base, continued"],
                                    api_name="/dus_experiment"))
    assert "**done**" in out["summary"] and "6 layers" in out["summary"]
    assert "After 10 continued steps" in out["summary"]
    with open(out["csv"]) as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    assert {r["run"] for r in rows} == {"base pretraining (4 layers)", "DUS m=1 (6 layers)",
                                         "base, continued (4 layers)"}
    assert all(float(r["heldout_ppl"]) > 1 for r in rows)
    with open(out["json"]) as f:
        summary = json.load(f)
    assert summary["plan"]["s"] == 6 and set(summary["final_ppl"]) == {"dus", "base"}
    table = out["table"]
    table = table.get("value", table)  # a gr.Dataframe update: {"value": {"headers": ..., "data": ...}}
    assert [row[1] for row in table["data"]] == [4, 6, 4], table


def test_bad_inputs_get_clear_messages(client):
    with pytest.raises(Exception, match="between 0 and 3"):
        client.predict(4, 4, 10, 10, 0, 32, 1e-3, ["DUS"], api_name="/dus_experiment")
    with pytest.raises(Exception, match="Pick at least one run"):
        client.predict(4, 1, 10, 10, 0, 32, 1e-3, [], api_name="/dus_experiment")
    assert "⚠" in client.predict(4, 9, api_name="/dus_plan")
    assert "s = 2(n − m) = 24 layers" in client.predict(16, 4, api_name="/dus_plan")


def test_step0_on_smollm2(client):
    out = STEP0.unpack(client.predict("smollm2-135m-instruct", 7, 1, False, api_name="/dus_step0"))
    assert "46 layers" in out["summary"] and "Held-out perplexity before training" in out["summary"]
    with open(out["json"]) as f:
        r = json.load(f)
    assert r["plan"]["n"] == 30 and r["dus_ppl"] > r["base_ppl"] > 1 and r["naive_loss"] is None
    with pytest.raises(Exception, match="between 0 and 29"):
        client.predict("smollm2-135m-instruct", 30, 1, False, api_name="/dus_step0")
