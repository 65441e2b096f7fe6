"""The CoT path explorer in the browser: an example end to end."""
import pytest

from tests.browser.conftest import no_error_toast, open_tab

pytestmark = pytest.mark.browser


def test_cot_example_end_to_end(page, artifacts):
    open_tab(page, "CoT path explorer")
    page.get_by_role("button", name="Decode the paths", exact=True).click()
    page.get_by_text("Greedy answer:").first.wait_for(timeout=300_000)
    no_error_toast(page)
    assert page.locator(".cot-path").count() == 10
    page.screenshot(path=str(artifacts / "cot-example.png"), full_page=True)
    assert page.js_errors == []
