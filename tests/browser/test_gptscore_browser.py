"""The GPTScore tab in the browser: one click on an example scores four candidates side by side."""
import pytest

from tests.browser.conftest import no_error_toast, open_tab

pytestmark = pytest.mark.browser


def test_an_example_scores_four_candidates(page, artifacts):
    open_tab(page, "GPTScore")
    page.get_by_text("SOTU passage, four versions: fluency").first.click()
    page.get_by_text("Best: candidate").first.wait_for(timeout=240_000)
    no_error_toast(page)
    cands = page.locator(".gptscore-cand >> visible=true")
    assert cands.count() == 4 and "nats/token" in cands.first.inner_text()
    assert page.get_by_text("Best: candidate 1").first.is_visible()  # the intact paragraph wins
    assert page.locator(".gptscore-cand .tok >> visible=true").count() > 100
    page.screenshot(path=str(artifacts / "gptscore-example.png"), full_page=True)
    assert page.js_errors == []
