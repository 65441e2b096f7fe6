"""The Sparse upcycling tab through gradio_client: a tiny comparison, the step-0 view, bad input."""
import csv
import json

import pytest

from tabs.upcycling import COMPARE, STEP0

pytestmark = pytest.mark.app

QUICK = "2 layers x 64 (default)"


def test_compare_end_to_end(client):
    out = COMPARE.unpack(client.predict(4, 2, "top_k", 2.0, "every other", QUICK, 10, 5, 0,
                                        api_name="/upcycling_compare"))
    assert "At equal extra FLOPs, the upcycled model" in out["summary"] and "Done in" in out["summary"]
    assert [r[0] for r in out["table"]["data"]] == ["dense, budget B", "dense continued", "upcycled",
                                                    "MoE from scratch"]
    with open(out["csv"]) as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    assert {r["arm"] for r in rows} == {"dense", "dense_continued", "upcycled", "moe_scratch"}
    assert all(float(r["heldout_loss"]) > 0 for r in rows)
    with open(out["json"]) as f:
        saved = json.load(f)
    assert saved["settings"]["steps"]["upcycled"] == 5 and saved["counts"]["moe"]["n_experts"] == 4


def test_compare_bad_input(client):
    with pytest.raises(Exception, match=r"Top-k \(3\) cannot exceed the number of experts \(2\)"):
        client.predict(2, 3, "top_k", 2.0, "every other", QUICK, 12, 6, 0, api_name="/upcycling_compare")
    with pytest.raises(Exception, match="Layers must be block indices between 0 and 1"):
        client.predict(4, 2, "top_k", 2.0, "5", QUICK, 12, 6, 0, api_name="/upcycling_compare")


def test_step0_end_to_end_and_bad_input(client):
    # 4 experts at C = 1: a token reaches one expert on average, its MLP output scaled by its score (about 1/4)
    out = STEP0.unpack(client.predict("smollm2-135m-instruct", 4, 2, 1.0, "1", 1, 0, api_name="/upcycling_step0"))
    assert "top-2" in out["summary"] and "expert choice" in out["summary"]
    losses = {r[0]: r[1] for r in out["table"]["data"]}
    assert losses["top-2"] == pytest.approx(losses["dense"], abs=1e-3)
    assert losses["expert choice"] > losses["dense"]
    with pytest.raises(Exception, match="between 0 and 29 .the model has 30 blocks"):
        client.predict("smollm2-135m-instruct", 4, 2, 1.0, "1, 40", 1, 0, api_name="/upcycling_step0")
