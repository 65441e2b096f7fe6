"""Depth up-scaling on the cpu default: the step-0 cost on the default surgery model, and the seam effect on a
tiny base trained here (the paper: DUS falls below its base, the naive 2n stack further; training recovers)."""
import pytest

pytestmark = pytest.mark.defaults


def test_step0_on_the_default_surgery_model(registry):
    from backends.surgery import dus as D

    assert D.DEFAULT_MODEL in registry.lm_names()
    r = D.step0(None, 7, blocks=1)  # None: the default surgery model, SmolLM2-135M (float32 in every profile)
    assert r.model == D.DEFAULT_MODEL and (r.plan.n, r.plan.s) == (30, 46)
    # Measured on 16 blocks: base 48.1, DUS 74.2 (1.54x), naive 60 layers 3037 (63x); seam cosine 0.66 vs 0.06.
    assert 1.1 < r.dus_ppl / r.base_ppl < 3.0
    assert r.naive_ppl > 5 * r.dus_ppl
    assert r.similarity.seam(7) > r.similarity.seam(0) + 0.3


def test_a_tiny_base_pays_at_the_seam_and_recovers():
    from backends.surgery import dus as D

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
