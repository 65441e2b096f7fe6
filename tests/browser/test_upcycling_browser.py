"""The Sparse upcycling tab in the browser: a tiny comparison end to end, with its plots and files."""
import pytest

from tests.browser.conftest import no_error_toast, open_tab
from tests.browser.helpers import drawn_plots

pytestmark = pytest.mark.browser


def test_upcycling_comparison_end_to_end(page, artifacts):
    open_tab(page, "Sparse upcycling")
    page.get_by_label("Dense model").click()
    page.get_by_role("option", name="2 layers x 64 (default)").click()
    page.get_by_label("Dense budget B (steps)").fill("12")
    page.get_by_label("Extra steps of the upcycled model").fill("6")
    page.get_by_role("button", name="Run the comparison", exact=True).click()
    page.get_by_text("Done in").first.wait_for(timeout=120_000)
    no_error_toast(page)
    assert page.get_by_text("At equal extra FLOPs, the upcycled model").count() >= 1
    plots = drawn_plots(page, 3)
    assert plots.count() >= 3
    assert page.get_by_text("Held-out loss vs training FLOPs").count() >= 1
    assert page.locator("text=MoE from scratch").count() >= 1
    page.screenshot(path=str(artifacts / "upcycling-compare.png"), full_page=True)
    assert page.js_errors == []
