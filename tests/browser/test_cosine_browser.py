"""The cosine sandbox in the browser: the paper-scale experiment renders its heat maps."""
import pytest

from tests.browser.conftest import no_error_toast, open_tab

pytestmark = pytest.mark.browser


def test_heat_maps_render(page, artifacts):
    open_tab(page, "Cosine-similarity sandbox")
    page.get_by_role("button", name="Simulate and fit", exact=True).click()
    page.get_by_text("interactions").first.wait_for(timeout=120_000)
    visible = page.locator(".js-plotly-plot >> visible=true")  # plots of other tabs exist too, hidden
    visible.nth(1).wait_for(timeout=30_000)  # Plotly draws after the text arrives
    no_error_toast(page)
    assert visible.count() >= 2
    assert page.get_by_text("objective 1, alpha=0.5").count() >= 1
    page.screenshot(path=str(artifacts / "cosine-experiment.png"), full_page=True)
    page.get_by_role("tab", name="B: real sentence embeddings").click()
    page.get_by_role("button", name="Embed and rescale", exact=True).click()
    page.get_by_text("changed their nearest").first.wait_for(timeout=60_000)
    no_error_toast(page)
    page.screenshot(path=str(artifacts / "cosine-embeddings.png"), full_page=True)
    assert page.js_errors == []
