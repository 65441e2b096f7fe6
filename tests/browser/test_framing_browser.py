"""The framing tab in the browser: corpus plots render for a range of years, and a pasted text is analysed."""
import pytest

from backends.framing import corpus
from tests.browser.conftest import no_error_toast, open_tab

pytestmark = pytest.mark.browser


def test_corpus_plots_and_pasted_text(page, artifacts, monkeypatch):
    monkeypatch.setattr(corpus, "cached_result", lambda **k: None)  # analyse the years now (in-process app)
    open_tab(page, "Framing analysis")
    panel = page.locator(".tabitem >> visible=true").last  # the visible "Corpus" sub-tab
    years = panel.get_by_role("spinbutton")
    years.nth(0).fill("1882")
    years.nth(1).fill("1888")
    page.get_by_role("button", name="Analyse the corpus", exact=True).click()
    # The status line ends "... N metaphor probes; computed in S s." once the years are analysed (the intro
    # also speaks of metaphor probes, so wait for the status itself; a cold start loads the models first).
    page.get_by_text("metaphor probes; computed in").first.wait_for(timeout=480_000)
    visible = page.locator(".js-plotly-plot >> visible=true")
    visible.nth(2).wait_for(timeout=60_000)  # Plotly draws after the data arrives
    no_error_toast(page)
    assert visible.count() >= 4
    assert page.get_by_text("The study").count() >= 3
    page.screenshot(path=str(artifacts / "framing-corpus.png"), full_page=True)

    page.get_by_role("tab", name="Text", exact=True).click()
    page.get_by_text("nation of immigrants", exact=True).click()  # an example
    page.get_by_role("button", name="Analyse text", exact=True).click()
    page.get_by_text("paragraph(s) about immigration").first.wait_for(timeout=120_000)
    no_error_toast(page)
    assert page.locator("mark.fr-frame").count() >= 3
    page.screenshot(path=str(artifacts / "framing-text.png"), full_page=True)
    assert page.js_errors == []
