"""The Detector tab through gradio_client, on the real packaged model."""
import json

import pytest
from gradio_client import handle_file

from tabs.detector import BATCH, DETECT, EXAMPLES

pytestmark = pytest.mark.app


def _example(kind_name):
    return next(e["text"] for e in EXAMPLES if e["name"].startswith(kind_name))


def test_detect_an_example_end_to_end(client):
    out = DETECT.unpack(client.predict(
        _example("Machine: SmolLM2"), "smollm2-135m-instruct", "smollm2-135m-instruct", "observer",
        "default for this pair", 0.9, api_name="/detect"))
    assert "score" in out["verdict"] and "single-model" in out["verdict"]
    assert 'class="tok"' in out["strip"]
    result = json.loads(open(out["export"]).read())
    assert result["n_tokens"] == len(result["tokens"]) == len(result["token_log_ppl"]) > 16
    assert result["single_model"] is True
    assert result["is_machine"] == (result["score"] < result["threshold"])


def test_detect_rejects_empty_and_short_text_with_a_message(client):
    with pytest.raises(Exception, match="empty"):
        client.predict("   ", "smollm2-135m-instruct", "smollm2-135m-instruct", "observer",
                       "default for this pair", 0.9, api_name="/detect")
    with pytest.raises(Exception, match="too few|at least 16"):
        client.predict("Hi there.", "smollm2-135m-instruct", "smollm2-135m-instruct", "observer",
                       "default for this pair", 0.9, api_name="/detect")


def test_detect_refuses_a_pair_without_a_shared_tokenizer(client):
    with pytest.raises(Exception, match="do not share a tokenizer"):
        client.predict(_example("Human"), "smollm2-135m-instruct", "gemma3-270m", "observer",
                       "default for this pair", 0.9, api_name="/detect")


def test_batch_upload_with_labels(client, tmp_path):
    rows = [{"text": e["text"], "label": e["kind"]} for e in EXAMPLES]
    path = tmp_path / "texts.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    out = BATCH.unpack(client.predict(handle_file(str(path)), "smollm2-135m-instruct", "smollm2-135m-instruct",
                                      "observer", 1.0, api_name="/detect_batch"))
    data = out["table"]["data"] if isinstance(out["table"], dict) else out["table"]
    assert len(data) == len(rows)
    assert "AUROC" in out["summary"] and out["roc"] is not None
    assert open(out["export"]).read().count("\n") == len(rows) + 1


def test_batch_malformed_upload_names_the_row(client, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("text,label\nfine text here,human\nother,perhaps\n")
    with pytest.raises(Exception, match="Row 3"):
        client.predict(handle_file(str(path)), "smollm2-135m-instruct", "smollm2-135m-instruct", "observer", 1.0,
                       api_name="/detect_batch")


def test_benchmark_evaluation_streams_and_resumes(client):
    """Five texts of each kind (25) in-process, then the same evaluation resumed: every text comes from the first
    run's results file, with the same figures."""
    from tabs.detector import EVALUATION

    args = ("smollm2-135m-instruct", "smollm2-135m-instruct", "observer", 10.0, 5)
    job = client.submit(*args, "in-process", 1, False, api_name="/detect_evaluate")
    outs = [EVALUATION.unpack(o) for o in job]  # every streamed update, the last being the report
    assert len(outs) >= 2 and "**Sweep:**" in outs[0]["summary"] and outs[0]["roc"] is None
    first = outs[-1]
    assert "AUROC" in first["summary"] and "25/25 items" in first["summary"] and "(local)" in first["summary"]
    assert first["roc"] is not None and open(first["export"]).read().count("\n") == 26
    again = EVALUATION.unpack(client.predict(*args, "in-process", 1, True, api_name="/detect_evaluate"))
    assert "25 from an earlier run" in again["summary"]
    assert open(again["export"]).read() == open(first["export"]).read()
    with pytest.raises(Exception, match="choose in-process or Ray|not in the list of choices"):
        client.predict(*args, "cluster", 1, False, api_name="/detect_evaluate")
