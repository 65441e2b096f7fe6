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


def test_fixed_schedule_is_lossless_too_and_drafts_d_every_step(tiny_registry):
    lm = tiny_registry.get("tiny-b")
    reference = EE.greedy(lm, lm.tokenizer("abc abc abc")["input_ids"], 20)
    for d in (1, 3):
        r = EE.self_speculative("abc abc abc", "tiny-b", exit_layer=1, num_speculations=d, max_new_tokens=20,
                                adaptive=False)
        assert r.token_ids == reference and r.plain_steps == 0
        assert all(s.drafted == d for s in r.steps[:-1])  # the last step may be cut by the token limit
        assert r.token_sources.count("draft") == r.accepted


def test_adaptive_schedule_on_hand_made_steps():
    # (drafts next step, fruitless steps in a row, plain steps before the next speculation)
    assert EE.adapt(4, 0, 4, 4, most=4) == (4, 0, 0)  # all accepted: stay at the most
    assert EE.adapt(2, 0, 2, 2, most=4) == (4, 0, 0)  # all accepted: two more
    assert EE.adapt(4, 0, 4, 1, most=4) == (3, 0, 0)  # some accepted: one fewer, no pause
    assert EE.adapt(3, 0, 3, 0, most=4) == (2, 1, 1)  # none accepted: pause one step
    assert EE.adapt(1, 2, 1, 0, most=4) == (1, 3, 7)  # third fruitless step in a row: pause 7
    assert EE.adapt(1, 9, 1, 0, most=4) == (1, 10, EE.MAX_PAUSE)


def _count_head_rows(lm):
    """A forward hook on the LM head that counts the positions it projects."""
    rows = []
    hook = EE.parts(lm).head.register_forward_hook(lambda m, i, o: rows.append(i[0].numel() // i[0].shape[-1]))
    return rows, hook


def test_verification_projects_only_the_positions_it_checks(tiny_registry):
    lm = tiny_registry.get("tiny-b")
    rows, hook = _count_head_rows(lm)
    try:
        for adaptive in (False, True):
            rows.clear()
            r = EE.self_speculative("abc abc abc", lm, exit_layer=1, num_speculations=4, max_new_tokens=24,
                                    compare=False, adaptive=adaptive)
            # The prompt (its last position), each draft, then per verification the accepted drafts and the
            # one position after them; each plain step one position.
            assert sum(rows) == 1 + sum(s.drafted + s.accepted + 1 for s in r.steps) + r.plain_steps
    finally:
        hook.remove()


def test_layers_and_config_are_never_changed_for_other_callers(tiny_registry):
    lm = tiny_registry.get("tiny-b")
    p = EE.parts(lm)
    seen = []
    hook = p.layers[0].register_forward_hook(lambda m, i, o: seen.append(lm.model.config.num_hidden_layers))
    try:
        EE.self_speculative("abc abc", lm, exit_layer=1, num_speculations=2, max_new_tokens=8)
    finally:
        hook.remove()
    assert set(seen) == {2}  # drafting ran layer 0 alone without touching the config
    assert lm.model.model.layers is p.layers and "layers" not in vars(lm.model.model)
    with pytest.raises(RuntimeError), EE.layer_stack(p, EE.first_layers(p, 1)):
        assert len(lm.model.model.layers) == 1
        raise RuntimeError("a failing forward pass")
    assert lm.model.model.layers is p.layers  # restored after the error


def test_lens_projects_each_shown_position_once_per_layer(tiny_registry):
    lm = tiny_registry.get("tiny-a")
    rows, hook = _count_head_rows(lm)
    try:
        lens = EE.logit_lens("hello world, hello again", lm, top_k=2, max_tokens=5)
    finally:
        hook.remove()
    assert len(lens.tokens) == 5
    assert sum(rows) == (lens.n_layers + 1) * 5  # embeddings and each layer; the last is the model's own output


def test_time_budget_and_sweep_input(tiny_registry):
    from backends.decoding import TimeBudgetError
    from tabs.early_exit import parse_ints

    with pytest.raises(TimeBudgetError):
        EE.self_speculative("abc abc", "tiny-b", exit_layer=1, num_speculations=2, max_new_tokens=16,
                            time_budget_s=-1)
    assert parse_ints("12, 4;8, 4", "Exit layers", 1, 29) == [4, 8, 12]
    with pytest.raises(InputError, match="whole numbers"):
        parse_ints("a, b", "Exit layers", 1, 29)
    with pytest.raises(InputError, match="between 1 and 29"):
        parse_ints("0, 4", "Exit layers", 1, 29)


def test_schedule_choice_is_checked_on_the_server():
    from tabs.early_exit import SCHEDULES, adaptive_schedule

    assert adaptive_schedule(SCHEDULES[0]) is True and adaptive_schedule("fixed (paper)") is False
    with pytest.raises(InputError, match="Schedule: choose one of adaptive, fixed"):
        adaptive_schedule("greedy")
