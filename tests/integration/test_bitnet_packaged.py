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
    assert 3 < original < 100  # SmolLM2 reads SOTU English well
    assert weights_only > 10 * original and w158a8 > 10 * original  # ternarising after training breaks it
    assert res.tokens == 128 and "State of the Union" in res.source


def test_twins_train_with_the_real_trainer():
    res = twins([32], steps=20, seed=0)
    assert res.done and not res.stopped and res.completed_steps == res.total_steps == 40
    fp, b = res.runs
    assert (fp.kind, b.kind) == ("fp", "b1.58") and fp.params == b.params
    assert fp.steps == b.steps == tuple(range(1, 21))
    assert fp.eval_loss[0] == pytest.approx(b.eval_loss[0], abs=0.05)  # same init, near-uniform predictions
    assert fp.eval_loss[-1] < fp.eval_loss[0] - 0.5 and b.eval_loss[-1] < b.eval_loss[0] - 0.5  # both learn
    w = res.widths_done[0]
    assert w.fp_ppl == pytest.approx(math.exp(fp.eval_loss[-1])) and math.isfinite(w.posthoc_ppl)
    assert 0.2 < b.zeros < 0.5
    rows = res.curve_rows()
    assert len(rows) == 40 and {r["kind"] for r in rows} == {"fp", "b1.58"}
    d = res.to_dict()
    assert d["widths"][0]["gap"] == pytest.approx(w.gap) and "700M" in d["paper_gap"]
