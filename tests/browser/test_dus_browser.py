"""The Depth up-scaling tab in the browser: the quick example starts with one click, streams its curves, and
stops on Stop (the finished run's figures: tests/app/test_dus_api.py and tests/integration/test_dus_packaged.py)."""
import pytest

from tabs.dus import EXAMPLE_LABELS, TITLE
from tests.browser.conftest import open_tab
from tests.browser.helpers import first_update_then_stop

pytestmark = pytest.mark.browser


def test_dus_quick_example_streams_and_stops(page, artifacts):
    open_tab(page, TITLE)
    page.get_by_text("s = 2(n − m) = 12 layers").first.wait_for(timeout=30_000)
    page.get_by_text(EXAMPLE_LABELS[1], exact=True).first.click()
    # the plan updates through the app's queue, which may still be busy with an earlier test's request
    page.get_by_text("s = 2(n − m) = 6 layers").first.wait_for(timeout=120_000)
    first_update_then_stop(page, plots=2)  # the curves and the continued runs' zoom
    assert page.get_by_text("Base: 4 layers").count() >= 1  # the summary is rendered markdown
    assert page.get_by_text("Held-out perplexity").count() >= 1
    page.screenshot(path=str(artifacts / "dus-example.png"), full_page=True)
    assert page.js_errors == []
