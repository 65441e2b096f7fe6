"""The bandit playground in the browser: an example runs end to end and draws its plots."""
import pytest

from tests.browser.conftest import no_error_toast, open_tab

pytestmark = pytest.mark.browser


def test_basic_prompt_example_runs(page, artifacts):
    open_tab(page, "Bandit playground")
    page.get_by_text("Basic prompt BNRN0 (T = 25)").click()
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("answers parsed").first.wait_for(timeout=480_000)
    visible = page.locator(".js-plotly-plot >> visible=true")
    visible.nth(3).wait_for(timeout=30_000)  # scatter, regret, best-arm fraction, timeline
    no_error_toast(page)
    assert page.get_by_text("LLM BNRN0").count() >= 1
    assert page.locator("details.bandit-round").count() == 25
    page.screenshot(path=str(artifacts / "bandits-example.png"), full_page=True)
    assert page.js_errors == []
