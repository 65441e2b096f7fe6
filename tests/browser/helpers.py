"""Steps the browser tests share: run a tab's example and wait for what it draws."""
from tests.browser.conftest import no_error_toast, open_tab


def run_example(page, tab: str, button: str, done_text: str, timeout_ms: int = 300_000) -> None:
    """Open ``tab``, click ``button`` and wait until ``done_text`` shows."""
    open_tab(page, tab)
    page.get_by_role("button", name=button, exact=True).click()
    page.get_by_text(done_text).first.wait_for(timeout=timeout_ms)


def drawn_plots(page, at_least: int, timeout_ms: int = 30_000):
    """The visible Plotly plots (other tabs' plots exist too, hidden), once ``at_least`` of them have drawn,
    with no error shown. Plotly draws after the text arrives, hence the wait."""
    visible = page.locator(".js-plotly-plot >> visible=true")
    visible.nth(at_least - 1).wait_for(timeout=timeout_ms)
    no_error_toast(page)
    return visible
