"""The 1.58-bit weights tab through gradio_client: storage counts, a tiny twins run, clear errors."""
import csv
import json

import pytest

from tabs.bitnet import PTQ, SCRATCH_CHOICE, STORAGE, TWINS

pytestmark = pytest.mark.app


def test_storage_of_the_scratch_model(client):
    out = STORAGE.unpack(client.predict(SCRATCH_CHOICE, api_name="/bitnet_storage"))
    assert "linear weights" in out["summary"] and "8.0× less" in out["summary"]
    with open(out["json"]) as f:
        d = json.load(f)
    n = d["n_weights"]
    assert n == 4 * (4 * 128 * 128 + 3 * 128 * 352)  # 4 layers: q, k, v, o and the SwiGLU's three matrices
    assert d["bytes"]["fp16"] == 2 * n and d["bytes"]["ternary, 2-bit packed"] == n / 4 + 4 * 28
    assert 0.2 < d["zeros"] < 0.45


def test_twins_end_to_end(client):
    out = TWINS.unpack(client.predict([16], 10, 0, api_name="/bitnet_twins"))
    assert "All widths done" in out["summary"] and "| 16 |" in out["summary"]
    with open(out["csv"]) as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    assert len(rows) == 20 and {r["kind"] for r in rows} == {"fp", "b1.58"}
    assert all(float(r["train_loss"]) > 0 for r in rows)
    with open(out["json"]) as f:
        d = json.load(f)
    assert d["config"]["widths"] == [16] and d["widths"][0]["gap"] > 0


def test_bad_inputs_give_clear_messages(client):
    with pytest.raises(Exception, match="Pick at least one width"):
        client.predict([], 10, 0, api_name="/bitnet_twins")
    with pytest.raises(Exception, match="Steps must be between 10"):
        client.predict([16], 3, 0, api_name="/bitnet_twins")
    with pytest.raises(Exception, match="less than minimum value 1"):  # Gradio checks the slider's range
        client.predict("smollm2-135m-instruct", 0, api_name="/bitnet_ptq")


def test_ptq_end_to_end(client):
    out = PTQ.unpack(client.predict("smollm2-135m-instruct", 1, api_name="/bitnet_ptq"))
    assert "W1.58A8" in out["summary"] and "smollm2-135m-instruct" in out["summary"]
    with open(out["json"]) as f:
        d = json.load(f)
    original, _, w158a8 = (r["ppl"] for r in d["rows"])
    assert d["complete"] and w158a8 > 100 * original and len(d["layers"]) == 210
    with open(out["csv"]) as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    assert len(rows) == 210 and all(0.2 < float(r["zeros"]) < 0.5 for r in rows)
