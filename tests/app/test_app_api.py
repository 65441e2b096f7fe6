"""The real app through gradio_client: every tab is served, and the Models tab's API works."""
import urllib.request

import pytest

pytestmark = pytest.mark.app


def test_page_is_served_without_network_assets(app_url):
    html = urllib.request.urlopen(app_url, timeout=30).read().decode()
    assert "LLM research workbench" in html
    for host in ("fonts.googleapis.com", "fonts.gstatic.com", "cdn.jsdelivr.net", "unpkg.com"):
        assert host not in html


def test_api_lists_the_models_endpoints(client):
    api = client.view_api(print_info=False, return_format="dict")
    names = set(api["named_endpoints"])
    assert {"/models_load", "/models_unload", "/models_list"} <= names


def test_load_list_unload_through_the_api(client):
    table, status = client.predict("all-minilm-l6-v2", api_name="/models_load")
    assert "all-minilm-l6-v2" in status
    rows = table["data"] if isinstance(table, dict) else table
    assert any(r[0] == "all-minilm-l6-v2" for r in rows)
    table, status = client.predict("all-minilm-l6-v2", api_name="/models_load")
    assert "already loaded" in status
    table, status = client.predict("all-minilm-l6-v2", api_name="/models_unload")
    assert "unloaded" in status
    listed = client.predict(api_name="/models_list")
    rows = listed["data"] if isinstance(listed, dict) else listed
    assert not any(r[0] == "all-minilm-l6-v2" for r in rows)


def test_unknown_model_is_a_clear_error_not_a_crash(client):
    with pytest.raises(Exception) as e:
        client.predict("not-a-model", api_name="/models_load")
    # Gradio's own choice check or the registry answers; either way the valid names are listed.
    assert "not-a-model" in str(e.value) and "smollm2-135m-instruct" in str(e.value)
    # The server is still up and answering.
    assert client.predict(api_name="/models_list") is not None


def test_the_warm_start_line_and_the_memory_budget_are_served(client, registry):
    from backends import warmup

    saved = warmup.current()
    try:
        warmup._current = None  # the test app was launched without a warm-up: no line
        assert client.predict(api_name="/models_ready")[0] == ""
        w = warmup.start(registry)  # as app.main does once the app serves
        assert w.wait(300)
        line = client.predict(api_name="/models_ready")[0]
        assert line.startswith(f"Models ready: {len(w.names)} of {len(w.names)}, prepared in"), line
    finally:
        warmup._current = saved
    usage = client.predict(api_name="/models_memory")
    held, budget = registry.memory_use()
    assert f"hold {held / 2**30:.1f} GB of the {budget / 2**30:.1f} GB budget" in usage
    assert "the app process holds" in usage
