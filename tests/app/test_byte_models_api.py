"""The Byte models tab through gradio_client: a tiny training run, the toy-CPU experiment, an upload, bad input."""
import csv
import json

import pytest
from gradio_client import handle_file

from tabs.byte_models import CPU, TRAIN, UPLOAD

pytestmark = pytest.mark.app

QUICK = "2+1 layers x 64 (quick)"


def test_train_then_score_a_file_with_the_session_model(client):
    result = client.predict(QUICK, 3, ["csv", "cpu"], 0, api_name="/byte_models_train")
    out = TRAIN.unpack((*result, None))  # the session's model key is a gr.State: not sent to the client
    assert "Done in" in out["summary"] and "3 steps on csv+cpu" in out["summary"]
    assert [r[0] for r in out["table"]["data"]] == ["csv", "cpu"]
    with open(out["csv"]) as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    assert {r["file_type"] for r in rows} == {"csv", "cpu"} and all(float(r["zstd_per_file"]) > 0 for r in rows)
    with open(out["json"]) as f:
        saved = json.load(f)
    assert saved["config"]["hidden"] == 64 and len(saved["losses"]) == 3
    up = UPLOAD.unpack(client.predict(None, "json", 8, "sampled", 0.8, 1, api_name="/byte_models_upload"))
    assert "the model you trained in this session" in up["summary"] and "3 steps on csv+cpu" in up["summary"]
    assert "As hex:" in up["generated"] and 'class="token-strip"' in up["strip"]
    with open(up["json"]) as f:
        rec = json.load(f)
    assert len(bytes.fromhex(rec["generated_hex"])) == 8 and rec["n_bytes"] == len(rec["surprisal"])


def test_cpu_experiment(client):
    out = CPU.unpack(client.predict("10, 20", 2, 4, 0, api_name="/byte_models_cpu"))
    assert "Done in" in out["summary"] and "| 20 |" in out["summary"]
    assert out["example"]["data"][0][0] == "program" and len(out["example"]["data"]) == 10
    with open(out["json"]) as f:
        saved = json.load(f)
    assert [p["n_programs"] for p in saved["final"]] == [10, 20]
    assert all(0 <= p["accuracy"] <= 1 for p in saved["final"])


def test_bad_input(client, tmp_path):
    with pytest.raises(Exception, match="not in the list of choices"):  # Gradio checks the checkbox group
        client.predict(QUICK, 3, ["mp3"], 0, api_name="/byte_models_train")
    with pytest.raises(Exception, match="Steps must be between 1"):
        client.predict(QUICK, 0, ["csv"], 0, api_name="/byte_models_train")
    with pytest.raises(Exception, match="between 10 and"):
        client.predict("5", 2, 4, 0, api_name="/byte_models_cpu")
    with pytest.raises(Exception, match="Upload a small file"):
        client.predict(None, "(none)", 8, "greedy", 1.0, 0, api_name="/byte_models_upload")
    exe = tmp_path / "x.exe"
    exe.write_bytes(b"MZ" * 10)
    with pytest.raises(Exception, match="nsupported file type .exe"):
        client.predict(handle_file(str(exe)), "csv", 8, "greedy", 1.0, 0, api_name="/byte_models_upload")
