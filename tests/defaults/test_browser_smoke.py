"""The browser on the default cpu profile, as a user gets it: the Detector, CoT and RAG examples end to end on
Qwen2.5-Coder in int8 (the README's claim that the browser runs the default models). Every tab's wiring is
checked in tests/browser on the tiny profile; this is the one smoke test on the default models."""
import pytest

from tests.browser.conftest import browser_page, no_error_toast, open_tab
from tests.browser.helpers import drawn_plots, run_example
from tests.conftest import launched_app

pytestmark = [pytest.mark.defaults, pytest.mark.browser]


@pytest.fixture(scope="module")
def page(registry):
    """A page on an app built on the cpu registry (the process-wide one in this folder)."""
    assert registry.profile == "cpu"
    with launched_app() as url, browser_page(url) as page:
        yield page


def test_detector_example_runs_end_to_end(page, artifacts):
    open_tab(page, "Detector")
    page.get_by_text("Machine, odd prompt: the capybara astrophysicist").click()
    # the first use of the default models in a session: on a fresh machine it converts both (about two minutes)
    run_example(page, "Detector", "Detect", "nats/token", timeout_ms=600_000)
    drawn_plots(page, 2)  # the gauge and the per-token terms
    assert page.locator(".token-strip .tok").count() > 16
    assert page.get_by_text("Likely machine-generated").or_(page.get_by_text("Likely human-written")).count() >= 1
    # the default pair scored it (the result names both, each in its own code span), not the tiny profile's
    assert page.get_by_text("qwen2.5-coder-1.5b", exact=True).filter(visible=True).count() >= 1
    page.screenshot(path=str(artifacts / "cpu-detector-example.png"), full_page=True)
    assert page.js_errors == []


def test_cot_example_end_to_end(page, artifacts):
    run_example(page, "CoT path explorer", "Decode the paths", "Greedy answer:")
    no_error_toast(page)
    assert page.locator(".cot-path").count() == 10
    page.screenshot(path=str(artifacts / "cpu-cot-example.png"), full_page=True)
    assert page.js_errors == []


def test_rag_example_end_to_end(page, artifacts):
    open_tab(page, "RAG QA")
    page.get_by_text("Battleship Maine", exact=True).click()  # one-click example
    page.get_by_role("button", name="Answer", exact=True).click()
    page.get_by_text("log p(y|x)").first.wait_for(timeout=480_000)
    no_error_toast(page)
    visible = page.locator(".js-plotly-plot >> visible=true")  # plots of other tabs exist too, hidden
    visible.first.wait_for(timeout=30_000)
    assert visible.count() >= 2  # the heat map and the prior/posterior bars
    page.screenshot(path=str(artifacts / "cpu-rag-example.png"), full_page=True)
    assert page.get_by_text("RAG-Token: p(z | x, y_i) for each generated token").count() >= 1
    # the example filled the box (the CoT tab has a "Question" box too: take the visible one)
    assert "McKinley's 1898" in page.get_by_label("Question").locator("visible=true").first.input_value()
    assert page.get_by_text("1898 McKinley").count() >= 1  # passages labelled by year and president
    assert page.locator("mark").count() >= 1  # the answer span highlighted in a passage
    assert page.get_by_text("fused 1").count() >= 1  # hybrid retrieval: each passage shows its three ranks
    assert page.js_errors == []
