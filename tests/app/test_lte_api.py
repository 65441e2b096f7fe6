"""The Parallel low-rank training tab through gradio_client: a tiny toy run end to end, its files, bad input."""
import csv
import json

import pytest

from tabs.lte import RESULT

pytestmark = pytest.mark.app


def test_lte_toy_end_to_end(client):
    out = RESULT.unpack(client.predict("toy", 2, 4, 32, 2, "1", 6, 4, "average", 0, "in-process", 2,
                                       api_name="/lte_run"))
    assert "Final validation loss" in out["summary"] and "Done in" in out["summary"]
    assert "One rank-4 LoRA can at best reach" in out["summary"]
    assert [r[0] for r in out["table"]["data"]] == ["full-rank, all-reduce", "full-rank, parameter server",
                                                    "single LoRA", "LTE, T = 2"]
    with open(out["csv"]) as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    assert {r["scheme"] for r in rows} == {"full", "lora", "lte", "lte_T1"}
    assert max(int(r["samples"]) for r in rows) == 24
    with open(out["json"]) as f:
        saved = json.load(f)
    assert saved["settings"]["heads"] == 2 and saved["costs"]["lte"]["merges"] == 3
    assert saved["costs"]["M"] == 64 * 64 and saved["costs"]["M_lte"] == 2 * 64 * 4


def test_lte_bad_input(client):
    with pytest.raises(Exception, match=r"batch \(6\) must be a multiple of the heads \(4\)"):
        client.predict("toy", 4, 4, 32, 2, "", 6, 6, "average", 0, "in-process", 1, api_name="/lte_run")
    with pytest.raises(Exception, match="Merge interval T must be between 1 and 6"):
        client.predict("toy", 2, 4, 32, 10, "", 6, 4, "average", 0, "in-process", 1, api_name="/lte_run")
    with pytest.raises(Exception, match="Steps must be"):
        client.predict("toy", 2, 4, 32, 2, "", 10**6, 4, "average", 0, "in-process", 1, api_name="/lte_run")
    with pytest.raises(Exception, match="not in the list of choices"):  # Gradio checks the radio's choices
        client.predict("toy", 2, 4, 32, 2, "", 6, 4, "average", 0, "gpu farm", 1, api_name="/lte_run")
