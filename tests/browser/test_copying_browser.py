"""The Copying tab in the browser: a short training run end to end, with its three plots and files."""
import pytest

from tests.browser.conftest import no_error_toast, open_tab
from tests.browser.helpers import drawn_plots, fill

pytestmark = pytest.mark.browser


def test_copying_training_end_to_end(page, artifacts):
    open_tab(page, "Copying")
    fill(page.get_by_label("Alphabet size D"), "16")
    fill(page.get_by_label("Training lengths up to"), "6")
    fill(page.get_by_label("Test lengths"), "3, 6, 12")
    fill(page.get_by_label("Training steps", exact=True), "40")
    page.get_by_role("button", name="Train and test", exact=True).click()
    page.get_by_text("Done in").filter(visible=True).first.wait_for(timeout=120_000)
    no_error_toast(page)
    assert page.get_by_text("At L = 12 (beyond training) the transformer").count() >= 1
    plots = drawn_plots(page, 3)
    assert plots.count() >= 3
    assert page.get_by_text("Copy accuracy vs string length").count() >= 1
    assert page.get_by_text("State bits vs bits to copy").count() >= 1
    assert page.locator("text=LSTM h=").count() >= 1
    page.screenshot(path=str(artifacts / "copying-train.png"), full_page=True)
    assert page.js_errors == []
