"""The CoT path explorer in the browser: an example end to end."""
import pytest

from tests.browser.conftest import no_error_toast
from tests.browser.helpers import run_example

pytestmark = pytest.mark.browser


def test_cot_example_end_to_end(page, artifacts):
    run_example(page, "CoT path explorer", "Decode the paths", "Greedy answer:")
    no_error_toast(page)
    assert page.locator(".cot-path").count() == 10
    page.screenshot(path=str(artifacts / "cot-example.png"), full_page=True)
    assert page.js_errors == []
