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
    assert D.DEFAULT_MODEL in registry.lm_names()
    r = D.step0(None, 7, blocks=2)  # None: the default surgery model, SmolLM2-135M (float32 in every profile)
    assert r.model == D.DEFAULT_MODEL and (r.plan.n, r.plan.s) == (30, 46) and r.tokens == 256
    assert r.base_ppl < r.dus_ppl < r.naive_ppl
    # Measured on 16 blocks: base 48.1, DUS 74.2 (1.54x), naive 60 layers 3037 (63x); seam cosine 0.66 vs 0.06.
    assert 1.1 < r.dus_ppl / r.base_ppl < 3.0
    assert r.naive_ppl > 5 * r.dus_ppl
    assert r.similarity.seam(7) > r.similarity.seam(0) + 0.3


def test_a_tiny_base_pays_at_the_seam_and_recovers():
    """The paper's effect on a tiny base trained here: DUS falls below its base, the naive 2n stack too; continued
    pretraining recovers both."""
    cfg = D.ExperimentConfig(layers=4, base_steps=100, steps=30, eval_every=10, arms=("dus", "naive"))
    e = list(D.experiment(cfg))[-1]
    assert e.done
    base_end = e.base.eval_ppl[-1]
    dus, naive = e.curve("dus"), e.curve("naive")
    # Both surgeries cost perplexity at step 0; the trimmed seam joins more alike layers than the naive one.
    assert dus.eval_ppl[0] > base_end and naive.eval_ppl[0] > base_end
    assert e.similarity.seam(1) > e.similarity.seam(0) + 0.3
    # Continued pretraining recovers: both end below where the base stopped.
    assert dus.eval_ppl[-1] < base_end and naive.eval_ppl[-1] < base_end


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
