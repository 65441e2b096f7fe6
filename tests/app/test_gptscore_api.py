"""The GPTScore tab through gradio_client: candidates scored side by side, the meta-evaluation, bad input."""
import json

import pytest

from tabs.gptscore import META, SCORE

pytestmark = pytest.mark.app
SOURCE = "The committee approved the budget of 4 million dollars on Tuesday after a long debate."
GOOD = "The committee approved the budget of 4 million dollars on Tuesday after a long debate."
SHUFFLED = "Budget debate the Tuesday committee of on approved long dollars a million after 4 the."


def test_score_candidates_side_by_side(client):
    out = SCORE.unpack(client.predict(SOURCE, "", GOOD, "", SHUFFLED, "", "gemma3-270m", "IST", "src->hypo",
                                      "fluency", "", "mean", api_name="/gptscore_score"))
    assert "Best: candidate 1" in out["summary"] and "IST, aspect **fluency**" in out["summary"]
    assert "GPTScore" in out["cand0"] and 'class="token-strip"' in out["cand2"] and out["cand1"] == ""
    rows = open(out["csv"]).read().splitlines()
    assert rows[0].startswith("candidate,score,rank") and len(rows) == 3
    saved = json.load(open(out["json"]))
    first = saved["results"][0]
    assert len(first["tokens"]) == len(first["token_logprobs"]) > 5
    assert abs(sum(first["token_logprobs"]) / len(first["tokens"]) - first["score"]) < 1e-6  # the mean weighting


def test_a_reference_variant_and_a_custom_aspect(client):
    refs = "The budget passed.\n---\nA long debate ended."
    out = SCORE.unpack(client.predict("", refs, "", "", GOOD, "", "gemma3-270m", "IST", "avg", "brevity",
                                      "The text must be short.", "mean",
                                      api_name="/gptscore_score"))
    saved = json.load(open(out["json"]))
    assert [len(r["reference_scores"]) for r in saved["results"]] == [2] and out["cand2"] and not out["cand0"]
    assert saved["results"][0]["aspect"] == "brevity" and "ref->hypo" in saved["results"][0]["directions"]


def test_bad_input_gets_clear_messages(client):
    with pytest.raises(Exception, match="empty"):
        client.predict(SOURCE, "", "", " ", "", "", "gemma3-270m", "IST", "src->hypo", "fluency", "", "mean",
                       api_name="/gptscore_score")
    with pytest.raises(Exception, match="reference"):
        client.predict(SOURCE, "", GOOD, "", "", "", "gemma3-270m", "IST", "hypo->ref", "fluency", "", "mean",
                       api_name="/gptscore_score")
    with pytest.raises(Exception, match="Unknown aspect"):
        client.predict(SOURCE, "", GOOD, "", "", "", "gemma3-270m", "IST", "src->hypo", "wit", "", "mean",
                       api_name="/gptscore_score")
    with pytest.raises(Exception, match="minimum|between"):
        client.predict(0, ["Rouge-L"], "gemma3-270m", api_name="/gptscore_meta")
    with pytest.raises(Exception, match="at least one scorer"):
        client.predict(1, [], "gemma3-270m", api_name="/gptscore_meta")


def test_meta_evaluation_on_two_sources(client):
    # Rouge-L alone needs no model pass (the model scorers run in tests/integration, on a shorter item).
    out = META.unpack(client.predict(2, ["Rouge-L"], "gemma3-270m", api_name="/gptscore_meta"))
    assert "| Rouge-L |" in out["report"] and "2 of 2 sources" in out["report"]
    assert out["plot"] is not None
    assert open(out["csv"]).read().startswith("source_id,axis,kind,level")
    saved = json.load(open(out["json"]))
    assert len(saved["records"]) == 20 and set(saved["spearman"]) == {"Rouge-L"}
    assert saved["spearman"]["Rouge-L"]["fluency"] > 0.5  # word overlap falls with shuffles and cuts
