"""The Copying tab through gradio_client: a tiny training run, a tiny lookup with a packaged LM, bad input."""
import csv
import json

import pytest

from tabs.copying import PRE, TRAIN

pytestmark = pytest.mark.app


def test_train_end_to_end(client):
    out = TRAIN.unpack(client.predict(["transformer", "lstm"], "hard_alibi", 8, 4, "2, 4, 8", 10, 0, "1, 2", 32,
                                      api_name="/copying_train"))
    assert "Done in" in out["summary"] and "transformer (Hard-ALiBi)" in out["summary"]
    labels = [r[0] for r in out["table"]["data"]]
    assert labels[0] == "transformer (Hard-ALiBi)" and len(labels) == 3 and "state x2" in labels[2]
    with open(out["csv"]) as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    assert {r["model"] for r in rows} == {"transformer", "lstm", "lstm-x2"}
    assert {int(r["length"]) for r in rows} == {2, 4, 8}
    assert all(r["beyond_training"] == ("True" if int(r["length"]) > 4 else "False") for r in rows)
    with open(out["json"]) as f:
        saved = json.load(f)
    assert saved["settings"]["steps"] == 10 and saved["runs"]["lstm"]["state_bits"] > 0
    assert "input `" in out["samples"] and "output `" in out["samples"]


def test_train_bad_input(client):
    with pytest.raises(Exception, match="Each test length must be a whole number"):
        client.predict(["transformer"], "nope", 8, 4, "4, eight", 5, 0, "1", 32, api_name="/copying_train")
    with pytest.raises(Exception, match="Pick at least one architecture"):
        client.predict([], "nope", 8, 4, "4", 5, 0, "1", 32, api_name="/copying_train")
    with pytest.raises(Exception, match="5000"):  # the box's maximum, checked again on the server
        client.predict(["lstm"], "nope", 8, 4, "4", 10**7, 0, "1", 32, api_name="/copying_train")


def test_pretrained_lookup_end_to_end_and_bad_input(client):
    out = PRE.unpack(client.predict(["smollm2-135m-instruct"], "lookup", "3", 1, 0, api_name="/copying_pretrained"))
    assert "phone-book lookup" in out["summary"] and "Done in" in out["summary"]
    assert len(out["table"]["data"]) == 1 and out["table"]["data"][0][0] == "smollm2-135m-instruct"
    with open(out["json"]) as f:
        assert json.load(f)["sizes"] == [3]
    with pytest.raises(Exception, match="Phone-book entries must be between 3 and 400"):
        client.predict(["smollm2-135m-instruct"], "lookup", "2", 1, 0, api_name="/copying_pretrained")
