"""The Byte models tab in the browser: the quick training example end to end, then the file panel's example."""
import pytest

from tests.browser.conftest import no_error_toast, open_tab
from tests.browser.helpers import drawn_plots

pytestmark = pytest.mark.browser


def test_byte_models_quick_example_then_a_file(page, artifacts):
    open_tab(page, "Byte models")
    page.get_by_text("Quick: small model, 60 steps (~20 s)").click()
    page.get_by_text("Done in").first.wait_for(timeout=120_000)
    no_error_toast(page)
    assert page.get_by_text("bGPT beats the best per-file compressor on").count() >= 1
    assert drawn_plots(page, 2).count() >= 2
    assert page.get_by_text("Held-out bits per byte: bGPT vs compressors").count() >= 1
    page.screenshot(path=str(artifacts / "byte-train.png"), full_page=True)
    page.get_by_role("tab", name="Your file", exact=True).click()
    page.get_by_text("A JSON file, sampled at T = 0.8").click()
    page.get_by_text("the model you trained in this session").first.wait_for(timeout=60_000)
    no_error_toast(page)
    assert page.locator(".token-strip >> visible=true").count() >= 1
    assert drawn_plots(page, 1).count() >= 1
    page.screenshot(path=str(artifacts / "byte-file.png"), full_page=True)
    assert page.js_errors == []
