"""The RAG QA tab in the browser: an example end to end with its heat map."""
import pytest

from tests.browser.conftest import no_error_toast, open_tab

pytestmark = pytest.mark.browser


def test_rag_example_end_to_end(page, artifacts):
    open_tab(page, "RAG QA")
    page.get_by_text("Battleship Maine", exact=True).click()  # one-click example
    page.get_by_role("button", name="Answer", exact=True).click()
    page.get_by_text("log p(y|x)").first.wait_for(timeout=480_000)  # a few seconds on an idle 2-core CPU
    no_error_toast(page)
    visible = page.locator(".js-plotly-plot >> visible=true")  # plots of other tabs exist too, hidden
    visible.first.wait_for(timeout=30_000)
    assert visible.count() >= 2  # the heat map and the prior/posterior bars
    page.screenshot(path=str(artifacts / "rag-example.png"), full_page=True)
    assert page.get_by_text("RAG-Token: p(z | x, y_i) for each generated token").count() >= 1
    # the example filled the box (the CoT tab has a "Question" box too: take the visible one)
    assert "McKinley's 1898" in page.get_by_label("Question").locator("visible=true").first.input_value()
    assert page.get_by_text("1898 McKinley").count() >= 1  # passages labelled by year and president
    assert page.locator("mark").count() >= 1  # the answer span highlighted in a passage
    assert page.get_by_text("fused 1").count() >= 1  # hybrid retrieval: each passage shows its three ranks
    assert page.js_errors == []
