"""The World knowledge (EWoK) tab through gradio_client."""
import csv

import pytest

from tabs.ewok import EVALUATE, EXAMPLES, PAIR

pytestmark = pytest.mark.app


def test_pair_end_to_end(client):
    out = PAIR.unpack(client.predict(*EXAMPLES[1], "gemma3-270m", api_name="/ewok_pair"))
    assert "Item score (LogProbs)" in out["summary"] and "CHOICE" in out["summary"]
    assert out["strips"].count('class="ewok-pair"') == 4 and "T2|C2" in out["strips"]


def test_pair_bad_input(client):
    c1, _, t1, t2 = EXAMPLES[0]
    with pytest.raises(Exception, match="identical"):
        client.predict(c1, c1, t1, t2, "gemma3-270m", api_name="/ewok_pair")
    with pytest.raises(Exception, match="Target 2 is empty"):
        client.predict(c1, "Ali turns right.", t1, "   ", "gemma3-270m", api_name="/ewok_pair")


def test_evaluate_two_items(client):
    out = EVALUATE.unpack(client.predict(["social interactions"], 2, ["gemma3-270m"], ["LogProbs"], 0,
                                         api_name="/ewok_evaluate"))
    assert "gemma3-270m" in out["summary"] and "LogProbs" in out["summary"]
    with open(out["csv"]) as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    assert len(rows) == 2 and {r["domain"] for r in rows} == {"social interactions"}
    assert {float(r["score"]) for r in rows} <= {0.0, 0.5, 1.0}
    with pytest.raises(Exception, match="Pick at least one model"):
        client.predict(["social interactions"], 2, [], ["LogProbs"], 0, api_name="/ewok_evaluate")
