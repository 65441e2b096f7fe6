"""The Sparse upcycling tab in the browser: a tiny comparison end to end, with its plots and files."""
import pytest

from tests.browser.conftest import no_error_toast, open_tab
from tests.browser.helpers import drawn_plots, fill

pytestmark = pytest.mark.browser


def test_upcycling_comparison_end_to_end(page, artifacts):
    open_tab(page, "Sparse upcycling")
    page.get_by_label("Dense model").click()
    page.get_by_role("option", name="2 layers x 64 (default)").click()
    fill(page.get_by_label("Dense budget B (steps)"), "10")
    fill(page.get_by_label("Extra steps of the upcycled model"), "5")
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
