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


def first_update_then_stop(page, *, plots: int = 1, timeout_ms: int = 120_000, settle_s: int = 30) -> None:
    """Wait for a run's first streamed update (``plots`` drawn in the open tab, no error shown), click the tab's
    Stop, and check that the run ends: within ``settle_s`` the page stops changing (the same text three times in a
    row, a second apart; a run still going, or its progress timer, would change it) and shows no error. The
    finished run's figures are the app and integration tests' (tests/app, tests/integration); this checks that the
    tab renders what streams and that Stop frees the queue."""
    drawn_plots(page, plots, timeout_ms)
    # A click event on the button itself: Playwright's click() first waits until the button's box is the same over
    # two animation frames, and while snapshots stream in, the page is busy re-rendering plots (the DUS tab's Stop
    # waited 8 s; dispatched, the click lands at once and the run ends as a user's click ends it).
    page.get_by_role("button", name="Stop", exact=True).filter(visible=True).first.dispatch_event("click")
    seen = [page.locator("body").inner_text()]
    for _ in range(settle_s):
        page.wait_for_timeout(1_000)  # the cancel reaches the server; a last snapshot may still arrive
        seen.append(page.locator("body").inner_text())
        if len(seen) >= 3 and seen[-1] == seen[-2] == seen[-3]:
            break
    else:
        import difflib

        diff = "\n".join(difflib.unified_diff(seen[-2].splitlines(), seen[-1].splitlines(), lineterm="", n=0))
        raise AssertionError(f"the page still changes {settle_s} s after Stop:\n{diff[:2000]}")
    no_error_toast(page)


def fill(locator, value: str, key: str = "Tab") -> None:
    """Type ``value`` into a number or text box and commit it (``key``: Tab leaves a box; a gr.Slider's number box
    takes Enter), so that the component has taken the value before the next click reads it."""
    locator.fill(value)
    locator.press(key)
