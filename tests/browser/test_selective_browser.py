"""The selective-prediction tab in the browser: one short run (2 questions, 2 samples)."""
import pytest

from tests.browser.conftest import no_error_toast, open_tab
from tests.browser.helpers import drawn_plots, fill

pytestmark = pytest.mark.browser


def _set(page, label: str, value: str) -> None:
    fill(page.get_by_label(f"number input for {label}", exact=True), value, "Enter")  # a gr.Slider's number box


def test_selective_short_run(page, artifacts):
    open_tab(page, "Selective prediction")
    _set(page, "Questions (from the start)", "2")
    _set(page, "Samples per question", "2")
    page.get_by_role("button", name="Score the answers", exact=True).click()
    page.get_by_text("Accuracy of the greedy answers").first.wait_for(timeout=300_000)
    no_error_toast(page)
    assert page.get_by_text("2 questions").first.is_visible()
    drawn_plots(page, 2)
    page.screenshot(path=str(artifacts / "selective-run.png"), full_page=True)
    assert page.js_errors == []
