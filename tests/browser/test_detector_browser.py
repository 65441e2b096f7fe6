"""The Detector tab in the browser: a bad input's message (the example end to end on the default models is in
tests/defaults/test_browser_smoke.py)."""
import pytest

from tests.browser.conftest import open_tab

pytestmark = pytest.mark.browser


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
