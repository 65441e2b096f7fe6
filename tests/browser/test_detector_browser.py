"""The Detector tab in the browser: an example end to end, and a bad input's message."""
import pytest

from tests.browser.conftest import open_tab
from tests.browser.helpers import drawn_plots, run_example

pytestmark = pytest.mark.browser


def test_detector_example_runs_end_to_end(page, artifacts):
    open_tab(page, "Detector")
    page.get_by_text("Machine, odd prompt: the capybara astrophysicist").click()
    run_example(page, "Detector", "Detect", "nats/token")  # may load both models first
    drawn_plots(page, 2)  # the gauge and the per-token terms
    assert page.locator(".token-strip .tok").count() > 16
    assert page.get_by_text("Likely machine-generated").or_(page.get_by_text("Likely human-written")).count() >= 1
    page.screenshot(path=str(artifacts / "detector-example.png"), full_page=True)
    assert page.js_errors == []


def test_detector_empty_text_shows_a_clear_error(page, artifacts):
    open_tab(page, "Detector")
    page.get_by_role("textbox", name="Text").fill("   ")
    page.get_by_role("button", name="Detect", exact=True).click()
    toast = page.locator(".toast-body.error")
    toast.first.wait_for(timeout=30_000)
    assert "Text is empty" in toast.first.inner_text()
    page.screenshot(path=str(artifacts / "detector-empty-error.png"))
    page.locator(".toast-close").first.click()
    page.wait_for_timeout(500)
