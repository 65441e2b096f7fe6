"""The 1.58-bit weights tab's defaults show the paper's point: ternarise after training and the model is lost;
train with the ternary quantiser in the loop and it learns about as well as its full-precision twin."""
import pytest

from backends.surgery.bitnet import DEFAULT_MODEL, ptq, twins
from tabs.bitnet import TWINS_EXAMPLES

pytestmark = pytest.mark.defaults


def test_post_training_ternarisation_wrecks_the_default_model(registry):
    assert DEFAULT_MODEL in registry.lm_names()
    res = ptq(DEFAULT_MODEL, max_blocks=2)
    original, weights_only, w158a8 = (r.ppl for r in res.rows)
    # measured on 4 blocks: 43.6 -> 5.3e7 (weights only) and 6.2e7 (W1.58A8)
    assert original < 80
    assert weights_only > 1000 * original and w158a8 > 1000 * original


def test_quick_twins_both_learn_and_stay_close():
    widths, steps, seed = TWINS_EXAMPLES[0]
    res = twins(widths, steps=steps, seed=seed)
    fp, b = res.runs
    # measured (width 32, 40 steps): held-out loss 5.56 -> 3.62 (FP) and 5.57 -> 3.63 (b1.58), ratio 1.017
    assert fp.eval_loss[0] - fp.eval_loss[-1] > 1.2 and b.eval_loss[0] - b.eval_loss[-1] > 1.2
    assert 0.95 < res.widths_done[0].gap < 1.10
    assert 0.25 < b.zeros < 0.4
