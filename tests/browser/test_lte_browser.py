"""The Parallel low-rank training tab in the browser: the quick toy example streams its plots and stops on Stop
(the finished run's figures: tests/app/test_lte_api.py and tests/integration/test_training_packaged.py)."""
import pytest

from tests.browser.conftest import open_tab
from tests.browser.helpers import first_update_then_stop

pytestmark = pytest.mark.browser


def test_lte_toy_example_streams_and_stops(page, artifacts):
    open_tab(page, "Parallel low-rank training")
    page.get_by_text("Toy, 4 heads x rank 8 (heads x rank < width: slower)").click()
    first_update_then_stop(page, plots=2)
    assert page.get_by_text("Validation loss vs training samples").count() >= 1
    assert page.get_by_text("bytes sent over the run").count() >= 1
    page.screenshot(path=str(artifacts / "lte-toy.png"), full_page=True)
    assert page.js_errors == []
