"""The CoT path explorer's Ray evaluation chosen in the browser (the example end to end on the default models:
tests/defaults/test_browser_smoke.py). It lives in the Ray tier, where Ray is started once for the session."""
import pytest

from tests.browser.conftest import browser_page, no_error_toast, open_tab

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(app_url, local_ray):
    with browser_page(app_url) as page:
        yield page


def _set(page, label: str, value: str) -> None:
    box = page.get_by_label(f"number input for {label}", exact=True).filter(visible=True)  # a gr.Slider's box
    box.fill(value)
    box.press("Enter")


def test_cot_evaluation_on_ray_workers_from_the_tab(page, artifacts):
    """The evaluation as a sweep on two local Ray workers, chosen in the UI: the report names the backend."""
    open_tab(page, "CoT path explorer")
    page.get_by_role("tab", name="Evaluate on the built-in problems", exact=True).click()
    _set(page, "k (branches)", "3")
    _set(page, "Token limit", "24")
    _set(page, "Problems (from the start)", "2")
    _set(page, "Self-consistency samples", "0")
    page.get_by_label("Ray", exact=True).filter(visible=True).check()
    _set(page, "Ray workers", "2")
    page.get_by_role("button", name="Evaluate", exact=True).click()
    page.get_by_text("problems in").first.wait_for(timeout=600_000)
    no_error_toast(page)
    report = page.get_by_text("2/2 items").first.inner_text()
    assert "2 workers (ray (local" in report
    page.screenshot(path=str(artifacts / "cot-ray-sweep.png"), full_page=True)
    assert page.js_errors == []
