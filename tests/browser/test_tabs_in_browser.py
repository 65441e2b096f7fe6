"""The real UI in headless Chromium: visit every tab, fail on any error toast, screenshot each."""
import shutil

import pytest

from tabs import TAB_MODULES

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(app_url, wait_until="networkidle")
        page.js_errors = errors
        yield page
        browser.close()


def _titles():
    return [__import__(f"tabs.{m}", fromlist=["TITLE"]).TITLE for m in TAB_MODULES]


def _no_error_toast(page):
    toasts = page.locator(".toast-body.error")
    assert toasts.count() == 0, toasts.first.inner_text()


@pytest.mark.parametrize("title", _titles())
def test_every_tab_opens_without_errors(page, artifacts, title):
    page.get_by_role("tab", name=title, exact=True).click()
    page.wait_for_timeout(500)
    _no_error_toast(page)
    assert page.get_by_role("tab", name=title, exact=True).get_attribute("aria-selected") == "true"
    page.screenshot(path=str(artifacts / f"tab-{title.lower().replace(' ', '-')}.png"), full_page=True)
    assert page.js_errors == []


def test_models_tab_loads_a_model_from_the_ui(page, artifacts):
    page.get_by_role("tab", name="Models", exact=True).click()
    page.get_by_role("button", name="Load", exact=True).click()
    page.get_by_text("smollm2-135m-instruct` was already loaded").or_(
        page.get_by_text("loaded in")).first.wait_for(timeout=120_000)
    _no_error_toast(page)
    assert page.locator("table").filter(has_text="smollm2-135m-instruct").count() >= 1
    page.screenshot(path=str(artifacts / "models-loaded.png"), full_page=True)
