import contextlib
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying to reach the (closed) network.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


@contextlib.contextmanager
def browser_page(url: str):
    """One headless Chromium page on the app at ``url``; JavaScript errors are collected in ``page.js_errors``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url, wait_until="load", timeout=120_000)
        page.get_by_role("tab", name="Models", exact=True).wait_for(timeout=120_000)
        page.js_errors = errors
        try:
            yield page
        finally:
            browser.close()


@pytest.fixture(scope="session")
def page(app_url):
    """One headless Chromium page on the running app (the test profile's)."""
    with browser_page(app_url) as page:
        yield page


def no_error_toast(page):
    toasts = page.locator(".toast-body.error")
    assert toasts.count() == 0, toasts.first.inner_text()


def _grouped_titles() -> set[str]:
    import importlib

    from tabs import MORE_PAPERS

    return {importlib.import_module(f"tabs.{m}").TITLE for m in MORE_PAPERS}


def _click_tab(page, title: str) -> None:
    """Click a tab by its label: in its bar when shown there, else in Gradio's overflow menu ("More tabs"), where a
    full bar puts its last tabs (which ones move can change as the page lays out, hence the retries)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(3):
        tab = page.get_by_role("tab", name=title, exact=True).filter(visible=True)
        if tab.count():
            try:
                tab.first.click(timeout=5_000)
                return
            except PlaywrightTimeout:
                pass
        menus = page.get_by_role("button", name="More tabs").filter(visible=True)
        for i in range(menus.count()):
            menus.nth(i).click()
            item = page.locator(".overflow-dropdown button", has_text=title).filter(visible=True)
            if item.count():
                item.first.click()
                return
            menus.nth(i).click()  # not in this menu: close it again
        page.wait_for_timeout(500)
    raise AssertionError(f"no tab {title!r} in the tab bars or their overflow menus")


def open_tab(page, title):
    """Open a top-level tab, or a paper's sub-tab inside "More papers" (that group first)."""
    if title in _grouped_titles():
        _click_tab(page, "More papers")
        page.wait_for_timeout(300)
    _click_tab(page, title)
    page.wait_for_timeout(300)
