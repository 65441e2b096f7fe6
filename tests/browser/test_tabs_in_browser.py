"""The real UI in headless Chromium: visit every tab, fail on any error toast, screenshot each."""
import pytest

from backends.models import registry
from tabs import MORE_PAPERS, TAB_MODULES
from tests.browser.conftest import no_error_toast, open_tab

pytestmark = pytest.mark.browser


def _titles():
    return [__import__(f"tabs.{m}", fromlist=["TITLE"]).TITLE for m in (*TAB_MODULES, *MORE_PAPERS)]


@pytest.mark.parametrize("title", _titles())
def test_every_tab_opens_without_errors(page, artifacts, title):
    open_tab(page, title)
    no_error_toast(page)
    assert page.get_by_role("tab", name=title, exact=True).get_attribute("aria-selected") == "true"
    page.screenshot(path=str(artifacts / f"tab-{title.lower().replace(' ', '-')}.png"), full_page=True)
    assert page.js_errors == []


def test_the_overview_lists_every_paper(page):
    open_tab(page, "More papers")
    page.get_by_role("tab", name="Overview", exact=True).click()
    for m in (*TAB_MODULES[:-2], *MORE_PAPERS):
        title = __import__(f"tabs.{m}", fromlist=["TITLE"]).TITLE
        assert page.locator("table td").filter(has_text=title).first.is_visible(), title


def test_models_tab_loads_a_model_from_the_ui(page, artifacts):
    open_tab(page, "Models")
    page.get_by_role("button", name="Load", exact=True).click()
    page.get_by_text("was already loaded").or_(page.get_by_text("loaded in")).first.wait_for(timeout=300_000)
    no_error_toast(page)
    chat = registry().slots["chat"]  # the default profile's chat model, in the precision it runs in
    row = page.locator("table tr").filter(has_text=chat)
    assert row.count() >= 1
    assert registry().get(chat).info()["weights"] in row.first.inner_text()
    page.screenshot(path=str(artifacts / "models-loaded.png"), full_page=True)
