"""The World knowledge (EWoK) tab in the browser: score the default pair end to end."""
import pytest

from tests.browser.conftest import no_error_toast, open_tab
from tests.browser.helpers import drawn_plots

pytestmark = pytest.mark.browser


def test_ewok_pair_end_to_end(page, artifacts):
    open_tab(page, "World knowledge")
    page.get_by_role("tab", name="Score your own pair", exact=True).click()
    page.get_by_role("button", name="Score the pair", exact=True).click()
    page.get_by_text("Item score (LogProbs)").first.wait_for(timeout=180_000)
    no_error_toast(page)
    assert page.locator(".ewok-pair").count() == 4
    assert drawn_plots(page, 1).count() >= 1
    page.screenshot(path=str(artifacts / "ewok-pair.png"), full_page=True)
    assert page.js_errors == []
