"""BitNet b1.58 on a packaged model and the real trainer: ternarise SmolLM2-135M, train tiny twins."""
import math

import pytest
import torch

from backends.surgery import ternarize
from backends.surgery.bitlinear import BitLinear
from backends.surgery.bitnet import ptq, ternary_stats, twins

pytestmark = pytest.mark.integration

MODEL = "smollm2-135m-instruct"


def test_ternarize_smollm2_leaves_the_registry_copy_alone(registry):
    lm = registry.get(MODEL)
    q_proj = lm.model.model.layers[0].self_attn.q_proj
    before = q_proj.weight.detach().clone()
    q = ternarize(lm)
    assert q.name == MODEL + "+b1.58" and not registry.is_loaded(q.name) and q.tokenizer is lm.tokenizer
    assert type(lm.model.model.layers[0].self_attn.q_proj) is torch.nn.Linear
    assert torch.equal(lm.model.model.layers[0].self_attn.q_proj.weight, before)
    bits = [m for m in q.model.modules() if isinstance(m, BitLinear)]
    assert len(bits) == 30 * 7  # q, k, v, o, gate, up, down in each of the 30 layers; the (tied) head stays
    w_t, gamma = bits[0].ternary()
    assert set(torch.unique(w_t).tolist()) == {-1, 0, 1}
    assert gamma == pytest.approx(float(before.abs().mean()), rel=1e-5)
    st = ternary_stats(q)
    assert 0.2 < st.zeros < 0.5 and st.zeros + st.plus + st.minus == pytest.approx(1.0)


def test_ptq_wrecks_a_trained_model(registry):
    res = ptq(MODEL, max_blocks=1)
    assert res.complete and [r.variant.split()[0] for r in res.rows] == ["original", "ternary", "ternary"]
    original, weights_only, w158a8 = (r.ppl for r in res.rows)
    assert 3 < original < 80  # SmolLM2 reads SOTU English well
    # ternarising after training breaks it (measured on 4 blocks: 43.6 -> 5.3e7 weights only, 6.2e7 W1.58A8)
    assert weights_only > 1000 * original and w158a8 > 1000 * original
    assert res.tokens == 128 and "State of the Union" in res.source


def test_twins_train_with_the_real_trainer():
    """The tab's quick example (width 32, 40 steps): both twins learn and stay close, the paper's point."""
    from tabs.bitnet import TWINS_EXAMPLES

    widths, steps, seed = TWINS_EXAMPLES[0]
    assert ([int(w) for w in widths], steps, seed) == ([32], 40, 0)
    res = twins(widths, steps=steps, seed=seed)
    assert res.done and not res.stopped and res.completed_steps == res.total_steps == 80
    fp, b = res.runs
    assert (fp.kind, b.kind) == ("fp", "b1.58") and fp.params == b.params
    assert fp.steps == b.steps == tuple(range(1, 41))
    assert fp.eval_loss[0] == pytest.approx(b.eval_loss[0], abs=0.05)  # same init, near-uniform predictions
    # both learn (measured: held-out loss 5.56 -> 3.62 FP, 5.57 -> 3.63 b1.58) and end close (ratio 1.017)
    assert fp.eval_loss[0] - fp.eval_loss[-1] > 1.2 and b.eval_loss[0] - b.eval_loss[-1] > 1.2
    w = res.widths_done[0]
    assert 0.95 < w.gap < 1.10
    assert w.fp_ppl == pytest.approx(math.exp(fp.eval_loss[-1])) and math.isfinite(w.posthoc_ppl)
    assert 0.25 < b.zeros < 0.4
    rows = res.curve_rows()
    assert len(rows) == 80 and {r["kind"] for r in rows} == {"fp", "b1.58"}
    d = res.to_dict()
    assert d["widths"][0]["gap"] == pytest.approx(w.gap) and "700M" in d["paper_gap"]
