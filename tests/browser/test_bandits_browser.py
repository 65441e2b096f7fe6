"""The bandit playground in the browser: an example runs end to end and draws its plots."""
import pytest

from tests.browser.conftest import open_tab
from tests.browser.helpers import drawn_plots, fill, run_example

pytestmark = pytest.mark.browser


def test_basic_prompt_example_runs(page, artifacts):
    open_tab(page, "Bandit playground")
    page.get_by_text("Basic prompt BNRN0 (T = 25)").click()
    page.wait_for_timeout(500)
    # one LLM replicate instead of the example's two: the page draws the same plots and the first transcript (the
    # replicates' statistics: tests/app/test_bandits_api.py and tests/integration/test_bandits_packaged.py)
    fill(page.get_by_label("number input for LLM replicates N", exact=True), "1", "Enter")
    run_example(page, "Bandit playground", "Run", "answers parsed", timeout_ms=480_000)
    drawn_plots(page, 4)  # scatter, regret, best-arm fraction, timeline
    assert page.get_by_text("LLM BNRN0").count() >= 1
    assert page.locator("details.bandit-round").count() == 25
    page.screenshot(path=str(artifacts / "bandits-example.png"), full_page=True)
    assert page.js_errors == []
