"""The small trainer: scratch models, data splits, the training loop's contracts, memory and checkpoints.

Models here are a few thousand parameters wide, so the whole file runs in seconds; the packaged models'
training is covered by the surgery tabs' integration tests.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from backends import training as T
from backends.config import InputError
from backends.decoding import Deadline

SMALL = T.ScratchConfig(layers=2, hidden=32, heads=2, seq_len=32)
# A text a tiny model learns in a few dozen steps: one sentence pattern with a few fillers.
TEXT = " ".join(f"The {a} sat on the {b}." for a in ("cat", "dog", "owl", "fox") * 60
                for b in ("mat", "rug", "log"))


@pytest.fixture(scope="module")
def data():
    return T.text_data(T.byte_tokenizer(), TEXT, seq_len=32)


def weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_scratch_model_is_llama_over_bytes_and_seeded():
    a, b, c = T.scratch_model(SMALL, seed=3), T.scratch_model(SMALL, seed=3), T.scratch_model(SMALL, seed=4)
    assert a.model.config.model_type == "llama" and a.model.config.vocab_size == 259
    assert a.loaded_from == T.SCRATCH and a.weights == "float32" and a.name == "scratch-2x32"
    assert torch.equal(weights(a.model), weights(b.model))
    assert not torch.equal(weights(a.model), weights(c.model))
    assert a.model.config.intermediate_size == 96  # 8/3 x 32, rounded up to a multiple of 32
    assert not any(getattr(m, "bias", None) is not None for m in a.model.modules() if isinstance(m, torch.nn.Linear))


def test_scratch_config_is_validated():
    with pytest.raises(InputError, match="multiple of 2 x the heads"):
        T.scratch_model(T.ScratchConfig(hidden=30, heads=4))
    with pytest.raises(InputError, match="Layers"):
        T.scratch_model(T.ScratchConfig(layers=0))


def test_byte_ids_match_the_tokenizer():
    tok = T.byte_tokenizer()
    text = "Fellow-citizens, 1790 – naïve ☃"
    assert T.encode_text(tok, text).tolist() == tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(T.encode_text(tok, text).tolist()) == text


def test_user_text_is_split_into_disjoint_blocks(data):
    assert data.train.shape[1] == data.heldout.shape[1] == 32 and data.train.dtype == np.int64
    assert len(data.train) > 10 * len(data.heldout) / 2 and len(data.heldout) >= 1
    assert "your text" in data.source
    numbered = "\n".join(f"Line {i} of a numbered text." for i in range(3000))  # every piece unique
    train_pieces, held_pieces = T._text_split(numbered)
    assert len(held_pieces) == (len(train_pieces) + len(held_pieces)) // T.HELDOUT_EVERY >= 1
    assert not any(h in "".join(train_pieces) for h in held_pieces)
    assert sum(map(len, train_pieces)) + sum(map(len, held_pieces)) == len(numbered)
    assert T.text_data(T.byte_tokenizer(), TEXT, seq_len=32) is data  # memoised


def test_sotu_split_holds_out_whole_addresses():
    train, held = T._sotu_split()
    assert len(held) == len(train + held) // T.HELDOUT_EVERY
    assert not set(train) & set(held)


def test_too_little_text_is_refused():
    with pytest.raises(InputError, match="too short"):
        T.text_data(T.byte_tokenizer(), "A few words only.")
    with pytest.raises(InputError, match="LoadedModel or a tokenizer"):
        T.text_data(42)


def test_training_lowers_held_out_loss_and_leaves_the_input_untouched(data):
    lm = T.scratch_model(SMALL, seed=0)
    before = weights(lm.model).clone()
    run = T.train(lm, steps=40, data=data, batch_size=8, eval_every=20, eval_blocks=4, seed=0)
    assert torch.equal(weights(lm.model), before)  # trained a copy
    assert run.model is not lm and not torch.equal(weights(run.model.model), before)
    assert run.eval_steps == [0, 20, 40] and run.steps == list(range(1, 41))
    assert run.eval_loss[-1] < run.eval_loss[0] - 1.0  # a learnable text: well below the uniform start
    assert run.eval_loss[0] == pytest.approx(math.log(259), abs=0.3)
    assert run.tokens[-1] == 40 * 8 * 32 and run.flops[-1] == pytest.approx(6 * T.matmul_params(lm.model) * 40 * 256)
    assert run.done and run.stopped == "" and run.eval_ppl[-1] == pytest.approx(math.exp(run.eval_loss[-1]))
    header, rows = run.curve_rows()
    assert header[-1] == "heldout_loss" and len(rows) == 41 and rows[0][1] == 0
    assert set(run.to_dict()) >= {"losses", "eval_loss", "eval_ppl", "config", "seed"}
    assert T.heldout_loss(run.model, data, 4) == pytest.approx(run.eval_loss[-1], rel=1e-5)


def test_same_seed_same_run_other_seed_other_order(data):
    lm = T.scratch_model(SMALL, seed=0)
    threads = torch.get_num_threads()
    # One thread for all three: float sums in another order could differ in the last bits.
    a = T.train(lm, steps=5, data=data, batch_size=4, eval_blocks=2, seed=1, threads=1)
    assert torch.get_num_threads() == threads  # the run's thread setting is restored afterwards
    b = T.train(lm, steps=5, data=data, batch_size=4, eval_blocks=2, seed=1, threads=1)
    c = T.train(lm, steps=5, data=data, batch_size=4, eval_blocks=2, seed=2, threads=1)
    assert a.losses == b.losses and a.eval_loss == b.eval_loss
    assert a.losses != c.losses


def test_snapshots_stream_and_closing_stops(data):
    lm = T.scratch_model(SMALL, seed=0)
    it = T.train_iter(lm, data, steps=30, batch_size=4, eval_every=10, eval_blocks=2)
    first, second = next(it), next(it)
    assert first.steps == [] and first.eval_steps == [0]
    assert second.steps[-1] == 10 and not second.done
    it.close()  # what Gradio's Stop does to the generator: no error, the last snapshot is the result


def test_time_cap_ends_with_a_final_evaluation(data):
    lm = T.scratch_model(SMALL, seed=0)
    run = T.train(lm, steps=1000, data=data, batch_size=4, eval_blocks=2, deadline=Deadline(0.0))
    assert run.stopped == "time cap" and run.steps == [] and run.eval_steps == [0, 0][:len(run.eval_steps)]


def test_trainable_filter_freezes_the_rest(data):
    lm = T.scratch_model(SMALL, seed=0)
    run = T.train(lm, steps=3, data=data, batch_size=4, eval_blocks=2, trainable=lambda n: "mlp" in n)
    for (name, p0), p1 in zip(lm.model.named_parameters(), run.model.model.parameters()):
        assert torch.equal(p0, p1) != ("mlp" in name), name
    assert run.config["trainable_params"] < lm.n_params


def test_int8_and_bad_settings_are_refused(data):
    lm = T.scratch_model(SMALL, seed=0)
    with pytest.raises(InputError, match="no backward pass"):
        T.train(dataclasses.replace(lm, weights="int8"), steps=1, data=data)
    with pytest.raises(InputError, match="Steps"):
        T.train(lm, steps=0, data=data)
    with pytest.raises(InputError, match="Learning rate"):
        T.train(lm, steps=1, data=data, lr=5.0)
    with pytest.raises(InputError, match="longer than"):
        T.train(lm, steps=1, data=T.text_data(T.byte_tokenizer(), TEXT, seq_len=64))
    with pytest.raises(InputError, match="Train a LoadedModel"):
        T.train(lm.model, steps=1)


def test_memory_check_refuses_with_figures():
    lm = T.scratch_model(SMALL, seed=0)
    est = T.check_memory(lm, 8, 32, available=2**34)
    assert est["total"] == est["weights"] + est["optimizer"] + est["activations"]
    assert est["optimizer"] == 12 * lm.n_params
    with pytest.raises(InputError, match=r"needs about .* GB .* machine has 0\.0 GB free"):
        T.check_memory(lm, 8, 32, available=10_000)


def test_small_models_take_one_thread_only_on_a_busy_machine(monkeypatch):
    lm = T.scratch_model(SMALL, seed=0)
    monkeypatch.setattr(T.os, "cpu_count", lambda: 2)
    assert T.auto_threads(lm.model, load=2.3) == 1
    assert T.auto_threads(lm.model, load=0.2) is None
    monkeypatch.setattr(T, "ONE_THREAD_BELOW", 10)  # a "large" model keeps torch's setting however busy
    assert T.auto_threads(lm.model, load=9.0) is None


def test_learning_rate_schedule():
    assert T._schedule(0, 100, 10) == pytest.approx(0.1)
    assert T._schedule(9, 100, 10) == pytest.approx(1.0)
    assert T._schedule(10, 100, 10) == pytest.approx(1.0)
    assert T._schedule(99, 100, 10) == pytest.approx(0.1, abs=0.01)


def test_checkpoints_round_trip_and_keep_under_the_cap(data, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    lm = T.scratch_model(SMALL, seed=0)
    run = T.train(lm, steps=2, data=data, batch_size=4, eval_blocks=2)
    first = T.save_checkpoint(run, "first run")
    assert first.name == "first-run" and (first / "run.json").exists() and (first / "model.safetensors").exists()
    size = T.folder_bytes(first)
    second = T.save_checkpoint(run, "second", cap_bytes=int(size * 1.5))  # room for one: the older goes
    assert second.exists() and not first.exists()
    with pytest.raises(InputError, match="more than the checkpoint cap"):
        T.save_checkpoint(run, "third", cap_bytes=1000)
    from backends import models

    with models.use_registry(models.ModelRegistry("tiny", cache_dir=str(tmp_path / "models"))):
        back = T.load_checkpoint("second")
        assert back.name == "ckpt-second"
        assert T.heldout_loss(back, data, 2) == pytest.approx(T.heldout_loss(run.model, data, 2), rel=1e-5)
