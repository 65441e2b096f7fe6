"""The Parallel low-rank training tab in the browser: the quick toy example end to end, with its plots."""
import pytest

from tests.browser.conftest import no_error_toast, open_tab
from tests.browser.helpers import drawn_plots

pytestmark = pytest.mark.browser


def test_lte_toy_example_end_to_end(page, artifacts):
    open_tab(page, "Parallel low-rank training")
    page.get_by_text("Toy, 4 heads x rank 8 (heads x rank < width: slower)").click()
    page.get_by_text("Done in").filter(visible=True).first.wait_for(timeout=120_000)
    no_error_toast(page)
    assert page.get_by_text("Final validation loss").count() >= 1
    assert page.get_by_text("One rank-8 LoRA can at best reach").count() >= 1
    plots = drawn_plots(page, 2)
    assert plots.count() >= 2
    assert page.get_by_text("Validation loss vs training samples").count() >= 1
    assert page.locator("text=full-rank, parameter server").count() >= 1
    page.screenshot(path=str(artifacts / "lte-toy.png"), full_page=True)
    assert page.js_errors == []
