"""Early exit on hand-made predictions and the tiny random model: exit layers, acceptance, losslessness."""
import types

import numpy as np
import pytest
import torch

from backends import early_exit as EE
from backends.config import InputError
from tests.fakes import tiny_lm


def test_exit_layer_statistic_on_hand_made_predictions():
    # rows: embeddings, layer 1..4; columns: positions
    top1 = np.array([[1, 7, 3],
                     [2, 7, 9],
                     [5, 7, 3],
                     [5, 8, 3],
                     [5, 7, 3]])
    exits, changes = EE.exit_layers(top1)
    assert exits == [2, 4, 2]  # position 1 agrees at layers 0-2, disagrees at 3: it exits only at 4
    assert changes == [2, 2, 2]


def test_accept_step_on_hand_made_tokens():
    assert EE.accept([4, 5, 6], [4, 5, 6, 7]) == 3  # all accepted; the verifier adds 7
    assert EE.accept([4, 9, 6], [4, 5, 6, 7]) == 1  # first disagreement at 9; the verifier's 5 follows
    assert EE.accept([9], [4, 5]) == 0
    assert EE.accept([4, 2, 6], [4, 2, 6, 7], eos=2) == 1  # a drafted EOS is never accepted


def test_tiny_model_is_lossless_for_every_exit_and_speculation(tiny_registry):
    tiny_registry.set_slot("early_exit", "tiny-b")
    lm = tiny_registry.get("tiny-b")
    ids = lm.tokenizer("abc abc abc")["input_ids"]
    reference = EE.greedy(lm, ids, 20)
    with torch.no_grad():
        hf = lm.model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                               do_sample=False, max_new_tokens=len(reference), pad_token_id=0)
    assert hf[0, len(ids):].tolist() == reference  # our greedy is transformers' greedy
    for d in (1, 2, 5):
        r = EE.self_speculative("abc abc abc", "tiny-b", exit_layer=1, num_speculations=d, max_new_tokens=20)
        assert r.token_ids == reference and r.identical
        assert len(r.token_sources) == len(r.token_ids)
        assert r.accepted <= r.drafted and all(s.accepted <= s.drafted <= d for s in r.steps)


def test_tiny_lens_last_layer_is_the_model_output(tiny_registry):
    lens = EE.logit_lens("hello world", "tiny-a", top_k=3)
    assert lens.n_layers == 2 and lens.layer_names == ["embeddings", "layer 1", "layer 2"]
    assert len(lens.top_tokens[0]) == len(lens.tokens) and len(lens.top_tokens[0][0]) == 3
    assert all(p == pytest.approx(lens.top_probs[-1][i][0]) for i, p in enumerate(lens.final_token_prob[-1]))
    assert EE.lens_matches_model("hello world", "tiny-a") < 1e-6


def test_bad_exit_layers_and_architectures(tiny_registry):
    with pytest.raises(InputError, match="between 1 and 1"):
        EE.self_speculative("abc", "tiny-a", exit_layer=2)
    with pytest.raises(InputError, match="Speculations"):
        EE.self_speculative("abc", "tiny-a", exit_layer=1, num_speculations=0)
    with pytest.raises(InputError, match="empty"):
        EE.logit_lens("  ", "tiny-a")
    lm = tiny_lm()
    hidden = types.SimpleNamespace(name="opaque", model=types.SimpleNamespace(config=lm.model.config))
    with pytest.raises(InputError, match="does not expose a decoder layer stack"):
        EE.parts(hidden)
