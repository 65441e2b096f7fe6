"""The Sparse upcycling tab in the browser: a tiny comparison streams and stops on Stop (its finished figures:
tests/app/test_upcycling_api.py), and the step-0 example end to end."""
import pytest

from tests.browser.conftest import no_error_toast, open_tab
from tests.browser.helpers import drawn_plots, first_update_then_stop

pytestmark = pytest.mark.browser


def test_upcycling_comparison_streams_and_stops(page, artifacts):
    open_tab(page, "Sparse upcycling")
    page.get_by_label("Dense model").click()
    page.get_by_role("option", name="2 layers x 64 (default)").click()
    page.get_by_label("Dense budget B (steps)").fill("10")
    page.get_by_label("Extra steps of the upcycled model").fill("5")
    page.get_by_role("button", name="Run the comparison", exact=True).click()
    first_update_then_stop(page, plots=2)
    assert page.get_by_text("Held-out loss vs training FLOPs").count() >= 1
    page.screenshot(path=str(artifacts / "upcycling-compare.png"), full_page=True)
    assert page.js_errors == []


def test_upcycling_step0_example_runs_with_one_click(page, artifacts):
    open_tab(page, "Sparse upcycling")
    page.get_by_role("tab", name="Surgery on a packaged model (step 0)", exact=True).click()
    page.get_by_text("SmolLM2, 8 experts on 3 MLPs, C = 1: dropped tokens").click()
    page.get_by_text("held-out tokens").first.wait_for(timeout=120_000)
    no_error_toast(page)
    items = page.locator("li", has_text="of tokens dropped on average")
    assert items.count() == 3 and "expert choice, normalised" in items.nth(2).inner_text()
    assert drawn_plots(page, 2).count() >= 2
    page.screenshot(path=str(artifacts / "upcycling-step0.png"), full_page=True)
    assert page.js_errors == []
