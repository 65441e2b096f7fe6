"""Depth up-scaling on the packaged SmolLM2-135M and with the real trainer (tiny sizes)."""
import pytest

from backends.surgery import depth_upscale
from backends.surgery import dus as D

pytestmark = pytest.mark.integration


def test_smollm2_up_scaled_to_46_layers_leaves_the_registry_copy_alone(registry):
    lm = registry.get("smollm2-135m-instruct")
    n_before = lm.n_params
    big = depth_upscale(lm, m=7)
    assert len(big.model.model.layers) == 46 and big.model.config.num_hidden_layers == 46
    assert len(lm.model.model.layers) == 30 and lm.model.config.num_hidden_layers == 30
    assert lm.n_params == n_before and big.n_params == D.plan(lm, 7).params
    assert big.name == "smollm2-135m-instruct+dus7" and big.name not in registry.names()
    # 16 extra layers of 3.5M parameters each on top of 135M (the tied embeddings are not copied)
    assert 185e6 < big.n_params < 195e6
    from backends.lm import generate

    g = generate(big, "The State of the Union is", max_new_tokens=6)
    assert len(g.token_ids) >= 1  # it runs through the KV cache of 46 layers


def test_step0_perplexity_rises_after_the_surgery_and_most_for_the_naive_stack(registry):
    r = D.step0("smollm2-135m-instruct", 7, blocks=2)
    assert (r.plan.n, r.plan.s) == (30, 46) and r.tokens == 256
    assert r.base_ppl < r.dus_ppl < r.naive_ppl
    assert r.similarity.seam(7) > r.similarity.seam(0)


def test_a_short_experiment_with_the_real_trainer():
    cfg = D.ExperimentConfig(layers=4, hidden=32, base_steps=20, steps=6, eval_every=3, eval_blocks=4, seq_len=32)
    snaps = list(D.experiment(cfg))
    e = snaps[-1]
    assert e.done and [c.arm for c in e.curves] == list(D.ARMS)
    assert [c.layers for c in e.curves] == [6, 8, 4, 6] and e.plan.m == 1
    assert all(c.eval_steps == [0, 3, 6] for c in e.curves)
    base_end = e.base.eval_loss[-1]
    # The continued base starts where the pretraining ended; the fresh model starts near log(259 bytes).
    assert e.curve("base").eval_loss[0] == pytest.approx(base_end, rel=1e-5)
    assert e.curve("scratch").eval_loss[0] > base_end + 1.0
    assert all(c.eval_loss[-1] < c.eval_loss[0] for c in e.curves)
    header, rows = e.rows()
    assert header[0] == "run" and len(rows) == len(e.base.eval_steps) + 4 * 3
    assert len(snaps) > 5  # streamed
