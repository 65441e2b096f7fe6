"""The cosine sandbox in the browser: the paper-scale experiment renders its heat maps."""
import pytest

from tests.browser.conftest import no_error_toast
from tests.browser.helpers import drawn_plots, run_example

pytestmark = pytest.mark.browser


def test_heat_maps_render(page, artifacts):
    run_example(page, "Cosine-similarity sandbox", "Simulate and fit", "interactions", timeout_ms=120_000)
    assert drawn_plots(page, 2).count() >= 2
    assert page.get_by_text("objective 1, alpha=0.5").count() >= 1
    page.screenshot(path=str(artifacts / "cosine-experiment.png"), full_page=True)
    page.get_by_role("tab", name="B: real sentence embeddings").click()
    page.get_by_role("button", name="Embed and rescale", exact=True).click()
    page.get_by_text("changed their nearest").first.wait_for(timeout=60_000)
    no_error_toast(page)
    page.screenshot(path=str(artifacts / "cosine-embeddings.png"), full_page=True)
    assert page.js_errors == []
