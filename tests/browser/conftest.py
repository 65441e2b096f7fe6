import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying to reach the (closed) network.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def page(app_url):
    """One headless Chromium page on the running app; JavaScript errors are collected on it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(app_url, wait_until="load", timeout=120_000)
        page.get_by_role("tab", name="Models", exact=True).wait_for(timeout=120_000)
        page.js_errors = errors
        yield page
        browser.close()


def no_error_toast(page):
    toasts = page.locator(".toast-body.error")
    assert toasts.count() == 0, toasts.first.inner_text()


def _grouped_titles() -> set[str]:
    import importlib

    from tabs import MORE_PAPERS

    return {importlib.import_module(f"tabs.{m}").TITLE for m in MORE_PAPERS}


def open_tab(page, title):
    """Open a top-level tab, or a paper's sub-tab inside "More papers" (that group first)."""
    if title in _grouped_titles():
        page.get_by_role("tab", name="More papers", exact=True).click()
        page.wait_for_timeout(300)
    tab = page.get_by_role("tab", name=title, exact=True)
    if tab.filter(visible=True).count():
        tab.filter(visible=True).first.click()
    else:  # a full tab bar puts its last tabs in Gradio's overflow menu ("More tabs")
        page.get_by_role("button", name="More tabs").filter(visible=True).first.click()
        page.locator(".overflow-dropdown button", has_text=title).filter(visible=True).first.click()
    page.wait_for_timeout(300)
