"""The selective-prediction tab through gradio_client."""
import pytest

from tabs.selective import RUN

pytestmark = pytest.mark.app


def test_run_end_to_end(client):
    result = client.predict("gemma3-270m", "cot", 2, 2, 0.25, 0, api_name="/selective_run")
    out = dict(zip([n for n in RUN.names if n != "state"], result))  # a gr.State is not sent to API clients
    assert "2 questions" in out["summary"] and "Accuracy" in out["summary"]
    metrics = out["metrics"]["data"] if isinstance(out["metrics"], dict) else out["metrics"]
    assert [r[0] for r in metrics][0].startswith("likelihood") and len(metrics) == 5
    rows = out["table"]["data"] if isinstance(out["table"], dict) else out["table"]
    assert len(rows) == 2
    assert open(out["csv"]).read().startswith("# cot; correctness")
    assert '"alpha_sweep"' in open(out["json"]).read()


def test_bad_inputs_get_clear_messages(client):
    with pytest.raises(Exception, match="maximum|Samples"):
        client.predict("gemma3-270m", "cot", 2, 50, 0.25, 0, api_name="/selective_run")
    with pytest.raises(Exception, match="minimum|Number of questions"):
        client.predict("gemma3-270m", "cot", 1, 2, 0.25, 0, api_name="/selective_run")
    # (in this client session a 2-question run may already be stored: then too few to train on)
    with pytest.raises(Exception, match="Run the evaluation above first|at least 4"):
        client.predict(12, 3, 0.003, 0, api_name="/selective_tune")
