"""The cosine sandbox through gradio_client."""
import pytest

from tabs.cosine import EMBEDDINGS, EXPERIMENT

pytestmark = pytest.mark.app
TINY = "tiny (500 users, 100 items, 4 clusters)"


def test_experiment_then_alpha_slider(client):
    out = client.predict(TINY, 0, 20, 10_000, 100, False, True, api_name="/cosine_experiment")
    out = EXPERIMENT.unpack([*out, None])  # the state stays on the server
    assert "500 users" in out["summary"] and "e-1" in out["summary"]  # the printed prediction gap is tiny
    rows = out["table"]["data"] if isinstance(out["table"], dict) else out["table"]
    assert [r[0] for r in rows][:4] == ["objective 1, alpha=0", "objective 1, alpha=0.5", "objective 1, alpha=1",
                                        "objective 2"]
    assert "item_auroc" in open(out["export"]).read()
    assert "α = 0.50" in out["alpha_md"]


def test_bad_rank_is_a_clear_error(client):
    with pytest.raises(Exception, match="Rank k"):
        client.predict(TINY, 0, 500, 10_000, 100, False, False, api_name="/cosine_experiment")


def test_embeddings_endpoint(client):
    out = EMBEDDINGS.unpack(client.predict("One sentence.\nAnother sentence here.\nA third one.", 1.5, 3,
                                           api_name="/cosine_embeddings"))
    assert "nearest neighbour" in out["summary"] and len(out["neighbours"]["data"]) == 3
    with pytest.raises(Exception, match="at least two"):
        client.predict("Just one.", 1.0, 0, api_name="/cosine_embeddings")
