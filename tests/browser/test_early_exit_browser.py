"""The early-exit tab in the browser: the lens heat map renders for an example."""
import pytest

from tests.browser.helpers import drawn_plots, run_example

pytestmark = pytest.mark.browser


def test_lens_heat_map_renders(page, artifacts):
    run_example(page, "Early-exit token viewer", "Show the layers", "layers; the top-1")
    assert drawn_plots(page, 3).count() >= 3  # heat map, exit-layer histogram, probability lines
    page.screenshot(path=str(artifacts / "early-exit-lens.png"), full_page=True)
    assert page.js_errors == []
