"""The early-exit tab through gradio_client."""
import json

import pytest

from tabs.early_exit import GENERATE, LENS, SWEEP

pytestmark = pytest.mark.app


def test_lens_and_generation(client):
    lens_out = LENS.unpack(client.predict(
        "The capital of France is Paris. The capital of Italy is", "smollm2-135m-instruct", 5,
        "final token probability", api_name="/early_exit_lens"))
    assert "of 30" in lens_out["summary"]
    lens = json.loads(open(lens_out["export"]).read())
    assert len(lens["layer_names"]) == 31 and len(lens["exit_layer"]) == len(lens["tokens"])
    gen = GENERATE.unpack(client.predict("Once upon a time", "smollm2-135m-instruct", 10, 3, 12,
                                         api_name="/early_exit_generate"))
    assert "identical to greedy: **yes**" in gen["stats"] and gen["text"].strip()
    assert 'class="tok' in gen["tokens"]
    fixed = GENERATE.unpack(client.predict("Once upon a time", "smollm2-135m-instruct", 10, 3, 12, "fixed (paper)",
                                           api_name="/early_exit_generate"))
    assert "identical to greedy: **yes**" in fixed["stats"] and fixed["text"] == gen["text"]
    assert "; 0 tokens decoded by the full model alone" in fixed["stats"]  # the fixed schedule never pauses


def test_bad_exit_layer_is_explained(client):
    with pytest.raises(Exception, match="Exit layer E must be between 1 and 29"):
        client.predict("Once upon a time", "smollm2-135m-instruct", 35, 3, 12, api_name="/early_exit_generate")
    with pytest.raises(Exception, match="whole numbers"):
        client.predict("Once upon a time", "smollm2-135m-instruct", "a, b", "2", 8, api_name="/early_exit_sweep")
    with pytest.raises(Exception, match="not in the list of choices"):
        client.predict("Once upon a time", "smollm2-135m-instruct", 10, 3, 12, "greedy",
                       api_name="/early_exit_generate")


def test_sweep_streams_and_reports(client):
    out = SWEEP.unpack(client.predict("Once upon a time", "smollm2-135m-instruct", "12, 20", "2", 4, "fixed (paper)",
                                      "in-process", 1, False, api_name="/early_exit_sweep"))
    rows = out["table"]["data"] if isinstance(out["table"], dict) else out["table"]
    assert [r[:2] for r in rows] == [[12, 2], [20, 2]] and all(r[4] is True for r in rows)  # lossless
    assert "2/2 items" in out["report"] and "not comparable" in out["report"]
    with pytest.raises(Exception, match="not in the list of choices"):
        client.predict("Once upon a time", "smollm2-135m-instruct", "12", "2", 4, "fixed (paper)", "gpu", 1, False,
                       api_name="/early_exit_sweep")
