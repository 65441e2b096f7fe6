"""The early-exit tab in the browser: the lens heat map renders for an example."""
import pytest

from tests.browser.conftest import no_error_toast, open_tab

pytestmark = pytest.mark.browser


def test_lens_heat_map_renders(page, artifacts):
    open_tab(page, "Early-exit token viewer")
    page.get_by_role("button", name="Show the layers", exact=True).click()
    page.get_by_text("layers; the top-1").first.wait_for(timeout=300_000)
    visible = page.locator(".js-plotly-plot >> visible=true")  # plots of other tabs exist too, hidden
    visible.nth(2).wait_for(timeout=30_000)  # Plotly draws after the text arrives
    no_error_toast(page)
    assert visible.count() >= 3
    page.screenshot(path=str(artifacts / "early-exit-lens.png"), full_page=True)
    assert page.js_errors == []
