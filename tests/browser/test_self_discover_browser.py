"""The Self-Discover tab in the browser: the quick evaluation example end to end, with its plot and files."""
import pytest

from tests.browser.conftest import no_error_toast, open_tab
from tests.browser.helpers import drawn_plots

pytestmark = pytest.mark.browser


def test_self_discover_quick_evaluation_end_to_end(page, artifacts):
    open_tab(page, "Self-Discover")
    page.get_by_role("tab", name="Evaluation", exact=True).filter(visible=True).click()
    page.get_by_text("Quick: 1 boolean expression, 135M model").filter(visible=True).click()
    page.get_by_text("Done in").filter(visible=True).first.wait_for(timeout=300_000)
    no_error_toast(page)
    assert page.get_by_text("stage-1 calls, reused for every instance").filter(visible=True).count() >= 1
    assert drawn_plots(page, 1).count() >= 1
    assert page.get_by_text("accuracy vs LM calls per instance").filter(visible=True).count() >= 1
    assert page.get_by_text("cot-sc (k=").filter(visible=True).count() >= 1
    page.screenshot(path=str(artifacts / "self-discover-evaluation.png"), full_page=True)
    assert page.js_errors == []
