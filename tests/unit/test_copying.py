"""Repeat After Me (backends/copying.py): the task's batches, the state-size formulas against hand computations,
the models' causality and sizes, greedy accuracy, determinism, bad input, and the pretrained prompts."""
import json
import math

import numpy as np
import pytest

from backends import copying as C
from backends.config import InputError

TINY = dict(train_len=4, test_lens=(2, 4, 6), steps=6, d_model=16, heads=2, batch_size=8, eval_strings=10,
            alphabet=5)


def test_copy_batch_layout_and_mask():
    v = C.Vocab(4)  # letters 0-3, BOS 4, COPY 5, PAD 6
    x, y, m = C.copy_batch([[1, 2, 3], [0]], v)
    assert x.tolist() == [[4, 1, 2, 3, 5, 1, 2], [4, 0, 5, 0, 6, 6, 6]]
    assert y.tolist() == [[1, 2, 3, 5, 1, 2, 3], [0, 5, 0, 6, 6, 6, 6]]
    # the <COPY> position predicts x_1, the copied x_1 predicts x_2, ...: L targets per row, all the copy
    assert m.tolist() == [[False, False, False, False, True, True, True], [False, False, True, False, False,
                                                                            False, False]]
    assert y[m].tolist() == [1, 2, 3, 0]
    assert v.show([4, 0, 25 % 4, 5]) == "<BOS> a b <COPY>"


def test_state_size_formulas_by_hand():
    assert C.bits_to_copy(10, 26) == pytest.approx(10 * math.log2(26))
    assert C.bits_to_copy(3, 4) == 6.0
    assert C.state_bits(220, 32) == 7040
    # |S| = 2^4 = 16 states, D^L = 4^3 = 64 strings: err > 1 - 16/64
    assert C.thm27_error_bound(4, 3, 4) == pytest.approx(0.75)
    assert C.thm27_error_bound(10, 3, 4) == 0.0  # the state can hold every string: no bound
    assert C.thm27_error_bound(6, 3, 4) == 0.0
    assert C.thm27_error_bound(32, 1000, 26) == pytest.approx(1.0)
    # Cor 2.8: mem(S) < L log2 D - 1. bits 5, D 4: 2L - 1 > 5 from L = 4; bits 4: from L = 3
    assert C.cor28_length(5, 4) == 4 and C.cor28_length(4, 4) == 3
    for bits, d in ((7040, 26), (100, 64), (3, 2)):
        n = C.cor28_length(bits, d)
        assert bits < C.bits_to_copy(n, d) - 1 and not bits < C.bits_to_copy(n - 1, d) - 1


def test_models_are_causal_and_positions_behave():
    import torch

    from backends import _copying_nets as N

    torch.manual_seed(0)
    ids = torch.randint(0, 8, (2, 12))
    later = ids.clone()
    later[:, 8:] = (later[:, 8:] + 1) % 8
    for model in (N.CopyTransformer(9, 16, 2, 4, "hard_alibi"), N.CopyTransformer(9, 16, 1, 2, "rope"),
                  N.CopyTransformer(9, 16, 1, 2, "alibi"), N.CopyLSTM(9, 8), N.DiagonalSSM(9, 8, 1, 4)):
        model.eval()
        with torch.no_grad():
            a, b = model(ids), model(later)
        assert torch.allclose(a[:, :8], b[:, :8], atol=1e-5), type(model).__name__  # changing the future
        assert not torch.allclose(a[:, 8:], b[:, 8:])
    bias = N.position_bias("hard_alibi", 4, 5)
    assert N.hard_alibi_windows(4) == [0, 0, 2, 3]
    assert torch.isinf(bias[2, 4, 2]) and bias[2, 4, 3] == 0 and bias[2, 4, 4] == 0  # window 2: itself and one back
    assert bias[0, 4, 0] == 0 and torch.isinf(bias[0, 0, 1])  # a global head: everything before, nothing after
    assert torch.equal(N.position_bias("nope", 2, 4), N.position_bias("rope", 2, 4))


def test_lstm_matches_the_transformer_budget():
    from backends import _copying_nets as N

    for vocab, h in ((29, 110), (67, 40)):
        assert N.lstm_params(vocab, h) == N.n_params(N.CopyLSTM(vocab, h))
    budget = N.n_params(N.CopyTransformer(29, 64, 2, 4))
    h = N.lstm_hidden_for(budget, 29)
    assert abs(N.lstm_params(29, h) - budget) <= abs(N.lstm_params(29, h + 1) - budget)
    assert abs(N.lstm_params(29, h) - budget) / budget < 0.01


def test_greedy_string_accuracy_equals_decoding():
    """evaluate()'s one-pass string accuracy is exactly what token-by-token greedy decoding gets."""
    import torch

    from backends import _copying_nets as N
    from backends.decoding import Deadline
    from backends.training import torch_threads

    torch.manual_seed(1)
    v = C.Vocab(3)
    model = N.CopyLSTM(v.size, 12)
    run = C.ArchRun("lstm", "lstm", "LSTM", 0, None, 12)
    settings = {"steps": 60, "lr": 1e-2, "batch_size": 16, "train_len": 3}
    with torch_threads(1):  # one thread: two spin-waiting threads crawl on a busy 2-core machine
        for _ in C._train_one(run, model, settings, v, 0, Deadline(None), lambda f, m: None):
            pass
    strings = C.eval_strings_for(0, 3, 20, 3) + C.eval_strings_for(0, 6, 20, 3)
    greedy = [C.greedy_copy(model, s, v) == s for s in strings]
    acc, tok = C.evaluate(model, strings, v, batch=7)
    assert 0 < sum(greedy) < len(strings)  # some right, some wrong: the comparison means something
    assert acc == pytest.approx(sum(greedy) / len(strings)) and acc <= tok <= 1.0


def test_copy_experiment_runs_reproducibly_and_is_json():
    a = C.copy_experiment(("transformer", "lstm"), seed=3, state_scales=(1, 2), **TINY)
    b = C.copy_experiment(("transformer", "lstm"), seed=3, state_scales=(1, 2), **TINY)
    assert list(a.runs) == ["transformer", "lstm", "lstm-x2"]
    assert a.losses == b.losses and a.accuracy == b.accuracy and a.token_accuracy == b.token_accuracy
    assert set(a.accuracy["transformer"]) == {2, 4, 6}
    assert a.runs["lstm-x2"].hidden == 2 * a.runs["lstm"].hidden
    assert a.state_bits["transformer"] is None and a.state_bits["lstm"] == 2 * a.runs["lstm"].hidden * 32
    assert abs(a.params["lstm"] - a.params["transformer"]) / a.params["transformer"] < 0.05
    d = json.loads(json.dumps(a.to_dict()))
    assert d["runs"]["lstm"]["accuracy"]["6"] == a.accuracy["lstm"][6]
    assert d["bounds"][0]["length"] == 2 and "lstm_thm27_error_bound" in d["bounds"][0]
    assert a.complete and a.runs["transformer"].samples
    c = C.copy_experiment(("transformer",), seed=4, **TINY)
    assert c.losses["transformer"] != a.losses["transformer"]


def test_deadline_stops_training():
    from backends.decoding import Deadline

    res = C.copy_experiment(("transformer", "lstm"), deadline=Deadline(0.0), **{**TINY, "steps": 50})
    assert res.stopped == "time cap" and list(res.runs) == ["transformer"]
    assert not res.complete


@pytest.mark.parametrize("kwargs, message", [
    ({"arch": ("transformer", "mamba")}, "Architectures must be among transformer, lstm, ssm"),
    ({"arch": ()}, "at least one"),
    ({"test_lens": "10, x"}, "Each test length must be a whole number"),
    ({"test_lens": (0, 5)}, "Each test length must be between 1 and 400"),
    ({"steps": 0}, "Training steps must be between 1 and 5000"),
    ({"alphabet": 1}, "Alphabet size D must be between 2 and 256"),
    ({"position": "learned"}, "Position scheme must be one of"),
    ({"d_model": 30, "heads": 4}, "must split into 4 heads"),
    ({"state_scales": (1, 99)}, "State scale must be between 1 and 16"),
])
def test_bad_settings_are_refused(kwargs, message):
    base = dict(arch=("transformer",), train_len=4, test_lens=(4,), steps=2)
    with pytest.raises(InputError, match=message):
        C.copy_experiment(**{**base, **kwargs})


def test_phone_book_prompt_and_judging():
    rng = np.random.default_rng(0)
    book = C.phone_book(rng, 30)
    assert len({n for n, _ in book}) == 30
    assert all(len(p) == 12 and p[3] == "-" and p[7] == "-" for _, p in book)
    prompt, answer = C.lookup_prompt(book, rng)
    lines = prompt.split("\n")
    assert lines[:30] == [f"{n}: {p}" for n, p in book] and lines[30] == ""
    assert len(lines) == 34 and lines[-1].endswith(":") and f"{lines[-1]} {answer}" in lines[:30]
    assert len({lines[31], lines[32], lines[33].rstrip(":")}) == 3  # two worked examples, then another query
    assert C._judge("lookup", answer, f" {answer}\nJohn") == (True, 1.0)
    right, part = C._judge("lookup", "123-456-7890", "123-456-7000")
    assert not right and part == pytest.approx(10 / 12)
    assert C._score_copy("a b c d", "a b  c d e") == (True, 1.0)
    assert C._score_copy("a b c d", "a b x d") == (False, 0.5)


def test_default_models_leave_out_the_large_ones():
    from backends.models import ModelRegistry

    assert C.default_models(ModelRegistry("tiny")) == ["smollm2-135m-instruct", "gemma3-270m"]
    assert C.default_models(ModelRegistry("cpu")) == ["qwen2.5-coder-0.5b"]
    assert "qwen2.5-coder-1.5b" in C.packaged_lms(ModelRegistry("cpu"))


def test_pretrained_run_mechanics(tiny_registry):
    res = C.lookup_experiment(models=["tiny-a"], entries=(3, 5), trials=2, seed=0)
    again = C.lookup_experiment(models=["tiny-a"], entries=(3, 5), trials=2, seed=0)
    assert res.sizes == [3, 5] and len(res.trials) == 4 and res.phase == "done"
    assert [t["produced"] for t in res.trials] == [t["produced"] for t in again.trials]
    assert all(0.0 <= res.accuracy["tiny-a"][n] <= 1.0 for n in (3, 5))
    assert res.trials[2]["prompt_tokens"] > res.trials[0]["prompt_tokens"]  # more entries, a longer prompt
    json.dumps(res.to_dict())
    with pytest.raises(InputError, match="Unknown model"):
        C.lookup_experiment(models=["no-such-model"], entries=(3,))
    with pytest.raises(InputError, match="a model name or a list of names, got bool"):
        C.lookup_experiment(models=True, entries=(3,))
    with pytest.raises(InputError, match="Unknown model"):
        C.lookup_experiment(models=[3], entries=(3,))
    with pytest.raises(InputError, match="Phone-book entries must be between 3 and 400"):
        C.lookup_experiment(models=["tiny-a"], entries=(1000,))
    with pytest.raises(InputError, match="Task must be one of"):
        list(C.pretrained_iter("summarise", ["tiny-a"]))


def test_crossing_length_interpolates():
    res = C.CopyResult({"alphabet": 4, "test_lens": [2, 4, 6, 8], "train_len": 4, "bits_per_float": 32}, {})
    res.runs["lstm"] = C.ArchRun("lstm", "lstm", "LSTM", 10, 8, 4, accuracy={2: 1.0, 4: 0.9, 6: 0.3, 8: 0.0})
    assert res.failure_length("lstm") == 6
    assert res.crossing_length("lstm") == pytest.approx(4 + 2 * 0.4 / 0.6)
    res.runs["lstm"].accuracy = {2: 1.0, 4: 0.9}
    assert res.crossing_length("lstm") is None and res.failure_length("lstm") is None
