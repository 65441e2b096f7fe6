"""The trainer on a packaged model: SOTU blocks in SmolLM2's tokens, its held-out perplexity, one step on a copy."""
import math

import pytest
import torch

from backends import training as T

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smollm(registry):
    return registry.get("smollm2-135m-instruct")


@pytest.fixture(scope="module")
def data(smollm):
    return T.text_data(smollm, seq_len=64, max_train_tokens=8_192, max_heldout_tokens=1_024)


def test_sotu_blocks_in_the_models_tokens(smollm, data):
    assert data.train.shape == (128, 64) and data.heldout.shape == (16, 64)
    text = smollm.tokenizer.decode(data.heldout[0].tolist())
    assert len(text.split()) > 20  # real words, decoded back from the model's own tokens
    assert data.tokenizer == type(smollm.tokenizer).__name__


def test_a_trained_model_finds_held_out_addresses_predictable(smollm, data):
    nll = T.heldout_loss(smollm, data, max_blocks=8)
    # SmolLM2-135M on unseen State of the Union text: about 40 per token (bench_training), far below the
    # vocabulary's 49,152 and well above a memorised text's 1.
    assert 10 < math.exp(nll) < 120


def test_one_step_trains_a_copy_and_leaves_the_registry_model(smollm, data):
    before = smollm.model.model.layers[0].mlp.up_proj.weight.detach().clone()
    run = T.train(smollm, steps=1, data=data, batch_size=1, eval_blocks=2)
    assert torch.equal(smollm.model.model.layers[0].mlp.up_proj.weight, before)
    assert not torch.equal(run.model.model.model.layers[0].mlp.up_proj.weight, before)
    assert run.config["lr"] == T.DEFAULT_LR_PRETRAINED and run.model.tokenizer is smollm.tokenizer
    assert len(run.losses) == 1 and math.isfinite(run.losses[0]) and run.eval_steps == [0, 1]
