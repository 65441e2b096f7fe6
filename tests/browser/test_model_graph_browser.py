"""The Model graph tab in the browser: the quick example routed and answered, with its graph and scores drawn."""
import pytest

from tests.browser.conftest import no_error_toast, open_tab
from tests.browser.helpers import drawn_plots

pytestmark = pytest.mark.browser


def test_model_graph_routes_the_chat_example(page, artifacts):
    open_tab(page, "Model graph")
    page.get_by_role("button", name="Route and answer", exact=True).wait_for(timeout=10_000)
    page.get_by_text("Chat: a board game (quick, the graph alone)").click()
    page.get_by_text("-> worker").first.wait_for(timeout=120_000)
    page.locator("text=/Done in [0-9.]+ s\\./ >> visible=true").first.wait_for(timeout=120_000)
    no_error_toast(page)
    summary = page.locator("text=/-> worker/ >> visible=true").first.inner_text()
    assert "chat" in summary and "smollm2-135m-instruct" in summary
    assert drawn_plots(page, 2).count() >= 2
    assert page.get_by_text("Route taken: router -> chat").count() >= 1
    assert page.get_by_label("The worker's answer").input_value().strip()
    page.screenshot(path=str(artifacts / "model-graph-route.png"), full_page=True)
    assert page.js_errors == []
