"""The 1.58-bit weights tab in the browser: the quick twins example and the storage count."""
import pytest

from tests.browser.conftest import no_error_toast, open_tab
from tests.browser.helpers import drawn_plots

pytestmark = pytest.mark.browser


def test_bitnet_quick_example_and_storage(page, artifacts):
    open_tab(page, "1.58-bit weights")
    page.get_by_role("tab", name="Storage and arithmetic", exact=True).click()
    page.get_by_role("button", name="Count", exact=True).click()
    page.get_by_text("other parameters stay full precision").first.wait_for(timeout=120_000)
    no_error_toast(page)
    assert drawn_plots(page, 1).count() >= 1
    page.screenshot(path=str(artifacts / "bitnet-storage.png"), full_page=True)

    page.get_by_role("tab", name="Train twins from scratch", exact=True).click()
    page.get_by_text("Quick: width 32, 40 steps (under a minute)").first.click()
    page.get_by_text("All widths done").first.wait_for(timeout=240_000)
    no_error_toast(page)
    assert drawn_plots(page, 2).count() >= 2
    assert page.get_by_text("| 32 |").count() == 0  # the summary is rendered as a table, not raw markdown
    page.screenshot(path=str(artifacts / "bitnet-twins.png"), full_page=True)
    assert page.js_errors == []
