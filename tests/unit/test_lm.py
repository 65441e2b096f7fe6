"""The shared scoring layer on a tiny random Llama: formulas, padding invariance, batching."""
import time

import numpy as np
import pytest
import torch

from backends import lm as L
from tests.fakes import tiny_lm


@pytest.fixture(scope="module")
def model():
    return tiny_lm()


def test_logprobs_and_entropies_match_a_direct_computation(model):
    text = "hello world, this is a test."
    s = L.score(model, [text], top_k=4)[0]
    ids = torch.tensor([model.tokenizer(text)["input_ids"]])
    with torch.no_grad():
        logp = torch.log_softmax(model.model(ids).logits[0, :-1].float(), -1)
    expected = logp.gather(-1, ids[0, 1:, None]).squeeze(-1).numpy()
    np.testing.assert_allclose(s.logprobs, expected, atol=1e-5)
    np.testing.assert_allclose(s.entropies, -(logp.exp() * logp).sum(-1).numpy(), atol=1e-5)
    assert s.tokens[0] == "<s>" and "".join(s.tokens[1:]) == text
    assert len(s.token_ids) == len(s.tokens) == s.n_scored + 1
    assert s.mean_nll == pytest.approx(-expected.mean())
    assert s.perplexity == pytest.approx(np.exp(-expected.mean()))


def test_topk_is_sorted_and_starts_with_the_argmax(model):
    s = L.score(model, ["abcabc"], top_k=3)[0]
    assert s.topk_ids.shape == (s.n_scored, 3) and len(s.topk_tokens) == s.n_scored
    assert np.all(np.diff(s.topk_logprobs, axis=1) <= 0)
    assert np.all(s.topk_logprobs[:, 0] >= s.logprobs - 1e-9)
    vocab = model.model.config.vocab_size
    assert np.all(s.entropies >= 0) and np.all(s.entropies <= np.log(vocab) + 1e-6)


def test_padding_never_changes_a_score(model):
    short, long = "hi there", "a much longer text that forces padding of the short one."
    alone = L.score(model, [short])[0]
    batched = L.score(model, [long, short, "x y"], batch_size=8)
    assert batched[1].text == short  # results come back in input order
    np.testing.assert_allclose(batched[1].logprobs, alone.logprobs, atol=1e-5)
    np.testing.assert_allclose(batched[1].entropies, alone.entropies, atol=1e-5)


def test_truncation_is_reported(model):
    s = L.score(model, ["abcdefghij", "abc"], max_tokens=5)
    assert s[0].truncated and len(s[0].token_ids) == 5
    assert not s[1].truncated


def test_batches_respect_the_logits_budget(monkeypatch):
    monkeypatch.setattr(L, "LOGITS_BUDGET", 1000)
    groups = L._batches([10, 50, 20, 30, 5], vocab=10, batch_size=None)  # 100 tokens per batch
    assert sorted(i for g in groups for i in g) == [0, 1, 2, 3, 4]
    lengths = [10, 50, 20, 30, 5]
    for g in groups:
        assert len(g) * max(lengths[i] for i in g) <= 100 or len(g) == 1
    assert L._batches([3, 3, 3, 3], vocab=1, batch_size=2) == [[0, 1], [2, 3]]


def test_deadline_stops_between_batches(model):
    with pytest.raises(L.TimeBudgetError, match="time budget"):
        L.score(model, ["abc", "defg"], batch_size=1, deadline=time.monotonic() - 1)


def test_max_tokens_below_two_is_refused(model):
    with pytest.raises(L.InputError):
        L.score(model, ["abc"], max_tokens=1)


def test_generate_greedy_is_deterministic_and_sampling_is_seeded(model):
    a = L.generate(model, "abc", max_new_tokens=8)
    b = L.generate(model, "abc", max_new_tokens=8)
    assert a.token_ids == b.token_ids and len(a.token_ids) <= 8
    s1 = L.generate(model, "abc", max_new_tokens=8, sample=True, seed=3)
    s2 = L.generate(model, "abc", max_new_tokens=8, sample=True, seed=3)
    assert s1.token_ids == s2.token_ids
    assert a.tokens_per_s > 0


def test_chat_without_template_is_a_clear_error(model):
    with pytest.raises(L.InputError, match="no chat template"):
        L.generate(model, "hi", chat=True)


# ----- score_continuations: log p(target | prefix) --------------------------------------------------


def test_continuation_matches_the_whole_text_scores(model):
    """The target's token log-probs equal the tail of the whole text's scores (same ids, same pass)."""
    from backends.lm import score, score_continuations

    prefix, target = "the cat sat", " on the mat."
    c = score_continuations(model, [prefix], [target])[0]
    whole = score(model, [prefix + target])[0]  # char tokenizer: tokenising apart changes nothing
    m = len(target)
    assert c.token_ids == whole.token_ids[-m:] and "".join(c.tokens) == target
    np.testing.assert_allclose(c.logprobs, whole.logprobs[-m:], atol=1e-5)
    assert c.total == pytest.approx(c.logprobs.sum()) and c.mean == pytest.approx(c.logprobs.mean())
    assert not c.truncated


def test_continuations_do_not_depend_on_their_batch(model):
    from backends.lm import score_continuations

    pairs = [("a", " b"), ("a much longer prefix, padded less", " and a target"), ("", "no prefix")]
    together = score_continuations(model, *zip(*pairs))
    for (p, t), c in zip(pairs, together):
        alone = score_continuations(model, [p], [t])[0]
        np.testing.assert_allclose(c.logprobs, alone.logprobs, atol=1e-5)
        assert c.prefix == p and c.target == t


def test_too_long_pairs_are_refused_before_any_model_call(model, monkeypatch):
    from backends.config import InputError
    from backends.lm import score_continuations

    def no_forward(*a, **k):
        raise AssertionError("the model ran on a pair that was to be refused")

    monkeypatch.setattr(model.model, "forward", no_forward)
    with pytest.raises(InputError, match="shorten them"):
        score_continuations(model, ["ok", "x" * 50], [" a", "abc"], max_tokens=10, too_long="Too long: shorten them.")
    monkeypatch.undo()
    assert score_continuations(model, ["x" * 50], ["abc"], max_tokens=10)[0].truncated  # without: cut and flagged


def test_an_empty_prefix_still_scores_the_first_target_token(model):
    from backends.lm import continuation_ids

    ids, start, _ = continuation_ids(model, "", "ab", 64)
    assert start == 1 and ids[0] == model.tokenizer.bos_token_id and len(ids) == 3


def test_long_pairs_lose_the_prefix_start_first(model):
    from backends.lm import continuation_ids, score_continuations

    ids, start, truncated = continuation_ids(model, "x" * 50, "abc", 10)
    assert truncated and len(ids) == 10 and ids[start:] == model.tokenizer("abc", add_special_tokens=False)["input_ids"]
    c = score_continuations(model, ["x" * 50], ["abc"], max_tokens=10)[0]
    assert c.truncated and len(c.logprobs) == 3


def test_empty_targets_and_int8_batches(model):
    from dataclasses import replace

    from backends.lm import score_continuations, scoring_batch_size

    empty, full = score_continuations(model, ["abc", "abc"], ["", " de"])
    assert empty.logprobs.size == 0 and np.isnan(empty.mean) and empty.total == 0 and full.logprobs.size == 3
    # int8 models quantise each call's input with one scale: one text per pass keeps scores batch-invariant.
    assert scoring_batch_size(model) == 16 and scoring_batch_size(model, 4) == 4
    assert scoring_batch_size(replace(model, weights="int8"), 16) == 1


def test_mismatched_pairs_are_refused(model):
    from backends.config import InputError
    from backends.lm import score_continuations

    with pytest.raises(InputError, match="pairs"):
        score_continuations(model, ["a", "b"], ["c"])
