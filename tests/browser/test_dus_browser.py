"""The Depth up-scaling tab in the browser: the quick example runs with one click and draws its plots."""
import pytest

from tabs.dus import EXAMPLE_LABELS, TITLE
from tests.browser.conftest import no_error_toast, open_tab
from tests.browser.helpers import drawn_plots

pytestmark = pytest.mark.browser


def test_dus_quick_example_runs_with_one_click(page, artifacts):
    open_tab(page, TITLE)
    page.get_by_text("s = 2(n − m) = 12 layers").first.wait_for(timeout=30_000)
    page.get_by_text(EXAMPLE_LABELS[1], exact=True).first.click()
    # the plan updates through the app's queue, which may still be busy with an earlier test's request
    page.get_by_text("s = 2(n − m) = 6 layers").first.wait_for(timeout=120_000)
    page.get_by_text("After 30 continued steps").first.wait_for(timeout=240_000)
    no_error_toast(page)
    assert drawn_plots(page, 2).count() >= 2
    assert page.get_by_text("DUS m=1 (6 layers)").count() >= 1
    page.screenshot(path=str(artifacts / "dus-example.png"), full_page=True)
    assert page.js_errors == []
