"""Sparse upcycling on the default model and the quick comparison: what the paper claims and holds here.

Measured (seed 0): SmolLM2-135M-Instruct upcycled to 4 experts on its 15 odd layers, 8 held-out SOTU blocks:
dense 3.948, top-2 3.948, expert choice 4.648 (unnormalised: the initial drop), normalised 3.948 (no token
dropped at C = 2); the test scores 4 blocks to stay short. The short-budget comparison (2 x 64 byte model,
60 + 30 steps): dense at B 2.654; dense continued 2.404, upcycled 2.438, MoE from scratch 2.537 at equal FLOPs.
The tab's default (B = 1000 + 500) shows upcycling ahead of both (+0.007 and +0.023 over dense continued,
seeds 0 and 1), but takes about 5 minutes: bench/bench_upcycling.py measures it.
"""
import pytest

from backends.surgery import upcycling as U
from backends.training import ScratchConfig, torch_threads

pytestmark = pytest.mark.defaults


def test_step0_on_the_default_surgery_model(registry):
    with torch_threads(1):
        view = U.step0_view(None, blocks=4)  # the tab's defaults: smollm2-135m-instruct, 4 experts, every other MLP
    dense, top, ec, ecn = view.variants
    assert view.model == "smollm2-135m-instruct" and len(view.settings["layers"]) == 15
    # top-K's weights sum to 1 and every token reaches its experts: the dense function at step 0
    assert top.heldout_loss == pytest.approx(dense.heldout_loss, abs=1e-3)
    # the paper's initial drop: unnormalised expert-choice weights (its setting for language) scale the MLPs down
    assert ec.heldout_loss > dense.heldout_loss + 0.3
    assert ecn.heldout_loss < ec.heldout_loss - 0.3
    assert top.counts["active"] < 0.75 * top.counts["total"]


def test_upcycling_beats_an_moe_from_scratch_at_equal_compute():
    cmp = U.compare(ScratchConfig(layers=2, hidden=64, heads=4), budget_steps=60, extra_steps=30, n_experts=8)
    v = cmp.verdict()
    assert cmp.complete
    assert v["initial_drop"] == pytest.approx(0.0, abs=1e-4)
    # The paper: an MoE from scratch needs more than the dense budget plus the extra to catch up (measured +0.10).
    assert v["gain_vs_moe_scratch"] > 0.03, v
    # Both continued arms improve on the dense checkpoint. Against continued dense training the paper's win does
    # not hold at this scale (measured -0.03: the dense model is far from converged, so more cheap steps beat
    # more parameters); the tab says so rather than asserting it.
    assert v["final_upcycled"] < v["final_dense"] - 0.1 and v["final_dense_continued"] < v["final_dense"] - 0.1
