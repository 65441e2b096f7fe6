"""Sparse upcycling on a packaged model (SmolLM2-135M) and with the real trainer, kept small; and what the paper
claims that holds at this scale.

Measured (seed 0): SmolLM2-135M-Instruct upcycled to 4 experts on its 15 odd layers, 8 held-out SOTU blocks:
dense 3.948, top-2 3.948, expert choice 4.648 (unnormalised: the initial drop), normalised 3.948 (no token
dropped at C = 2); the test scores 4 blocks to stay short. The short-budget comparison (2 x 64 byte model,
60 + 30 steps): dense at B 2.654; dense continued 2.404, upcycled 2.438, MoE from scratch 2.537 at equal FLOPs.
The tab's default (B = 1000 + 500) shows upcycling ahead of both (+0.007 and +0.023 over dense continued,
seeds 0 and 1), but takes about 5 minutes: bench/bench_upcycling.py measures it.
"""
import pytest
import torch

from backends.surgery import upcycle
from backends.surgery import upcycling as U
from backends.surgery.moe import MoEMLP
from backends.training import ScratchConfig, scratch_model, text_data, train

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("one_thread")]

NAME = "smollm2-135m-instruct"




def test_upcycling_smollm2_leaves_the_registry_copy_alone(registry):
    lm = registry.get(NAME)
    before = lm.model.model.layers[1].mlp.gate_proj.weight.clone()
    up = upcycle(lm, n_experts=2, top_k=2, layers="1, 3")
    assert up.name == f"{NAME}+moe2top2" and up.tokenizer is lm.tokenizer
    assert registry.get(NAME) is lm and not isinstance(lm.model.model.layers[1].mlp, MoEMLP)
    assert isinstance(up.model.model.layers[1].mlp, MoEMLP) and not isinstance(up.model.model.layers[2].mlp, MoEMLP)
    assert torch.equal(lm.model.model.layers[1].mlp.gate_proj.weight, before)
    counts = U.param_counts(up)
    mlp = 3 * 576 * 1536  # SmolLM2-135M: hidden 576, SwiGLU 1536, no biases
    assert counts.expert_params == mlp and counts.total == lm.n_params + 2 * (mlp + 576 * 2)
    ids = torch.as_tensor([lm.tokenizer("The Congress shall have power to lay and collect taxes.")["input_ids"]])
    with torch.no_grad():  # top-2 of 2 copies: the dense function at initialisation
        torch.testing.assert_close(up.model(ids).logits, lm.model(ids).logits, atol=1e-4, rtol=1e-4)


def test_step0_view_on_smollm2(registry):
    view = U.step0_view(NAME, n_experts=4, top_k=2, layers="1, 3, 5", blocks=2)
    dense, top, ec, ecn = view.variants
    assert [v.label for v in view.variants] == ["dense", "top-2", "expert choice", "expert choice, normalised"]
    assert view.n_tokens == 256 and 1.0 < dense.heldout_loss < 6.0
    assert top.heldout_loss == pytest.approx(dense.heldout_loss, abs=1e-3)  # no drop with top-K
    # the initial drop of unnormalised expert choice (measured +0.04 with three of 30 MLPs upcycled)
    assert ec.heldout_loss > dense.heldout_loss + 0.02
    assert dense.heldout_loss - 1e-3 <= ecn.heldout_loss < ec.heldout_loss
    if not any(r.dropped for r in ecn.routing):  # normalised, nothing dropped: the dense function
        assert ecn.heldout_loss == pytest.approx(dense.heldout_loss, abs=1e-3)
    assert [r.layer for r in top.routing] == [1, 3, 5] and all(r.dropped == 0 for r in top.routing)
    assert all(sum(r.load) == 2 * 256 for r in top.routing)
    assert all(0 <= r.dropped < 1 and sum(r.reach) == 256 for r in ec.routing)
    assert top.counts["active"] < top.counts["total"]


def test_upcycled_scratch_model_trains_with_the_real_trainer():
    lm = scratch_model(ScratchConfig(layers=2, hidden=64, heads=4), seed=0)
    up = upcycle(lm, n_experts=4, top_k=2)
    data = text_data(up, seq_len=128)
    counts = U.param_counts(up)
    run = train(up, steps=12, data=data, batch_size=4, flops_per_token=counts.flops_per_token, eval_every=6,
                eval_blocks=4)
    assert run.steps[-1] == 12 and run.losses[-1] < run.losses[0]
    assert run.eval_loss[-1] < run.eval_loss[0]
    assert run.flops[-1] == pytest.approx(counts.flops_per_token * 12 * 4 * 128)
    # the trained copy is still an MoE; the input is untouched
    assert isinstance(run.model.model.model.layers[1].mlp, MoEMLP)
    trained, start = run.model.model.model.layers[1].mlp, up.model.model.layers[1].mlp
    assert not torch.equal(trained.router.weight, start.router.weight)
    stats = U.routing_stats(run.model, data.heldout[:2])
    assert stats[0].tokens == 256 and sum(stats[0].load) == 512


def test_comparison_at_toy_scale():
    cmp = U.compare(ScratchConfig(layers=2, hidden=32, heads=4), budget_steps=16, extra_steps=8, n_experts=4,
                    evals=2, eval_blocks=4, batch_size=4)
    assert list(cmp.curves) == list(U.ARMS) and cmp.complete and cmp.stopped == ""
    d, m = cmp.counts["dense"], cmp.counts["moe"]
    steps = cmp.settings["steps"]
    assert steps == U.plan(16, 8, d["flops_per_token"], m["flops_per_token"])
    dense, cont, up, scratch = (cmp.curves[a] for a in U.ARMS)
    # the continued arms start at the dense model's cost; equal extra compute means the same end, within a step
    assert cont.offset_flops == up.offset_flops == dense.flops[-1] and scratch.offset_flops == 0
    step = 4 * 128 * m["flops_per_token"]  # one step: 4 blocks of 128 bytes
    assert abs(cont.eval_flops[-1] - up.eval_flops[-1]) <= step
    assert abs(scratch.eval_flops[-1] - up.eval_flops[-1]) <= step
    # top-K upcycling starts exactly where the dense model stopped
    assert up.eval_loss[0] == pytest.approx(dense.eval_loss[-1], abs=1e-4)
    assert set(cmp.routing) == {"upcycled_init", "upcycled", "moe_scratch"}
    v = cmp.verdict()
    assert v["initial_drop"] == pytest.approx(0.0, abs=1e-4) and "gain_vs_dense_continued" in v
    header, rows = cmp.curve_rows()
    assert header[0] == "arm" and len(rows) == sum(len(c.eval_loss) for c in cmp.curves.values())


def test_step0_on_the_default_surgery_model(registry):
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
