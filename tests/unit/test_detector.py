"""Binoculars on hand-made logits and tiny random models: formulas, pairs, padding, calibration."""
import math

import numpy as np
import pytest
import torch

from backends import detector as D
from backends import lm as L
from backends.config import InputError
from tests.fakes import tiny_lm

TEXT = "the quick brown fox jumps over the lazy dog, again and again."
OTHER = "a much longer companion text, so that the first one is padded when both share a batch!"


def test_terms_on_hand_made_logits():
    # Vocabulary of 3, text of 3 tokens [0, 1, 2]: two scored positions.
    obs = torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.0, 0.0], [9.0, 9.0, 9.0]])
    perf = torch.tensor([[0.0, 1.0, 2.0], [1.0, 0.0, 0.0], [9.0, 9.0, 9.0]])
    ids = torch.tensor([0, 1, 2])
    t_ppl, t_x = D._terms(obs, perf, ids, 3, "observer")
    p_obs = np.exp([2, 1, 0]) / np.exp([2, 1, 0]).sum()
    lp_perf = np.array([0, 1, 2]) - np.log(np.exp([0, 1, 2]).sum())
    expected_ppl = [-np.log(p_obs[1]), -np.log(1 / 3)]
    lp_perf2 = np.array([1, 0, 0]) - np.log(np.exp([1, 0, 0]).sum())
    expected_x = [-(p_obs * lp_perf).sum(), -(np.full(3, 1 / 3) * lp_perf2).sum()]
    np.testing.assert_allclose(t_ppl, expected_ppl, rtol=1e-12)
    np.testing.assert_allclose(t_x, expected_x, rtol=1e-12)
    # Numerator from the performer: its own log-probabilities of the actual tokens.
    t_perf, _ = D._terms(obs, perf, ids, 3, "performer")
    np.testing.assert_allclose(t_perf, [-lp_perf[1], -lp_perf2[2]], rtol=1e-12)


def test_single_model_denominator_is_the_entropy():
    logits = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.5, 3.0]])
    _, t_x = D._terms(logits, logits, torch.tensor([2, 0]), 2, "observer")
    p = torch.softmax(logits[0].double(), -1)
    assert t_x[0] == pytest.approx(float(-(p * p.log()).sum()))


def test_single_model_score_matches_the_scoring_layer(tiny_registry):
    r = D.binoculars([TEXT])[0]
    s = L.score(tiny_registry.get("tiny-a"), [TEXT])[0]
    assert r.single_model and r.observer == r.performer == "tiny-a"
    assert r.log_ppl == pytest.approx(s.mean_nll, rel=1e-6)
    assert r.log_xppl == pytest.approx(s.entropies.mean(), rel=1e-6)
    assert r.score == pytest.approx(s.mean_nll / s.entropies.mean(), rel=1e-6)
    assert len(r.tokens) == len(r.token_log_ppl) == len(r.token_log_xppl) == r.n_tokens
    assert np.mean(r.token_log_ppl) == pytest.approx(r.log_ppl)


def test_two_model_score_matches_a_direct_computation(tiny_registry):
    r = D.binoculars([TEXT], "tiny-a", "tiny-b")[0]
    a, b = tiny_registry.get("tiny-a"), tiny_registry.get("tiny-b")
    ids = torch.tensor([a.tokenizer(TEXT)["input_ids"]])
    with torch.no_grad():
        la = torch.log_softmax(a.model(ids).logits[0, :-1].double(), -1)
        lb = torch.log_softmax(b.model(ids).logits[0, :-1].double(), -1)
    log_ppl = float(-la.gather(-1, ids[0, 1:, None]).mean())
    log_x = float(-(la.exp() * lb).sum(-1).mean())
    assert not r.single_model
    assert r.log_ppl == pytest.approx(log_ppl, rel=1e-5)
    assert r.log_xppl == pytest.approx(log_x, rel=1e-5)
    assert r.score == pytest.approx(log_ppl / log_x, rel=1e-5)
    perf_num = D.binoculars([TEXT], "tiny-a", "tiny-b", numerator="performer")[0]
    assert perf_num.log_ppl == pytest.approx(float(-lb.gather(-1, ids[0, 1:, None]).mean()), rel=1e-5)
    assert perf_num.log_xppl == pytest.approx(r.log_xppl)


@pytest.mark.parametrize("pair", [("tiny-a", "tiny-a"), ("tiny-a", "tiny-b")])
def test_padding_never_changes_a_score(tiny_registry, pair):
    alone = D.binoculars([TEXT], *pair)[0]
    batched = D.binoculars([OTHER, TEXT, "short text but long enough to score"], *pair, batch_size=8)
    assert batched[1].text == TEXT
    assert batched[1].score == pytest.approx(alone.score, abs=1e-6)
    np.testing.assert_allclose(batched[1].token_log_xppl, alone.token_log_xppl, atol=1e-6)


def test_pair_with_different_tokenizers_is_refused():
    a = tiny_lm()
    b = tiny_lm()
    b.tokenizer.add_tokens(["<extra>"])
    with pytest.raises(InputError, match="do not share a tokenizer"):
        D.check_pair(a, b)
    D.check_pair(a, tiny_lm(seed=3))  # same tokenizer, other weights: accepted


def test_too_few_tokens_is_explained(tiny_registry):
    with pytest.raises(InputError, match="at least 16 are needed"):
        D.binoculars(["tiny"])
    with pytest.raises(InputError, match="No texts"):
        D.binoculars([])
    with pytest.raises(InputError, match="numerator"):
        D.binoculars([TEXT], numerator="both")


def test_thresholds_custom_default_and_falcon(tiny_registry):
    r = D.binoculars([TEXT], threshold=100.0)[0]
    assert r.is_machine and r.threshold == 100.0 and r.threshold_source == "user"
    r = D.binoculars([TEXT], threshold=0.0)[0]
    assert not r.is_machine
    thr, src = D.default_threshold("falcon-7b", "falcon-7b-instruct")
    assert thr == pytest.approx(0.8536432310785527) and "paper" in src
    thr, src = D.default_threshold("tiny-a", "tiny-b")
    assert "uncalibrated" in src


def test_long_text_is_truncated_and_flagged(tiny_registry):
    r = D.binoculars([TEXT * 20], max_tokens=64)[0]
    assert r.truncated and r.n_tokens == 63


def test_roc_auroc_and_threshold_on_known_scores():
    human, machine = [1.0, 0.9, 0.8], [0.5, 0.85, 0.95]
    assert D.auroc(human, machine) == pytest.approx(6 / 9)
    cal = D.calibrate_scores(human, machine, target_fpr=0.0)
    # FPR 0: every human score must be >= threshold; the best such cut lies between 0.5 and 0.8.
    assert 0.5 < cal.threshold <= 0.8 and cal.tpr_at_fpr[0.0] == pytest.approx(1 / 3)
    assert cal.fpr[0] == 0 and cal.tpr[0] == 0 and cal.fpr[-1] == 1 and cal.tpr[-1] == 1
    assert all(np.diff(cal.fpr) >= 0) and all(np.diff(cal.tpr) >= 0)
    # Trapezoid area under the ROC equals the pairwise AUROC.
    assert np.trapezoid(cal.tpr, cal.fpr) == pytest.approx(cal.auroc)
    perfect = D.calibrate_scores([2, 3], [0, 1], target_fpr=0.01)
    assert perfect.auroc == 1.0 and perfect.tpr_at_fpr[0.0001] == 1.0 and 1 < perfect.threshold <= 2


def test_calibration_input_errors():
    with pytest.raises(InputError):
        D.calibrate_scores([], [1.0])
    with pytest.raises(InputError):
        D.calibrate_scores([math.nan], [1.0])
    with pytest.raises(InputError):
        D.calibrate_scores([1.0], [0.5], target_fpr=1.5)


def test_calibrate_end_to_end_on_texts(tiny_registry):
    cal = D.calibrate([TEXT, OTHER], ["some machine text that is long enough", "and another one of those!!"],
                      target_fpr=0.5)
    assert cal.n_human == 2 and cal.n_machine == 2 and 0 <= cal.auroc <= 1


def test_python_calls_have_no_time_budget_unless_given_one(tiny_registry, monkeypatch):
    """A library call scores every text even when the server's budget is spent at once; a budget passed in
    (as the app does) stops it with a clear message."""
    from backends.decoding import TimeBudgetError

    monkeypatch.setenv("WORKBENCH_TIME_BUDGET_S", "1e-9")
    texts = [TEXT, OTHER, TEXT + " more"]
    assert len(D.binoculars(texts, batch_size=1)) == 3
    assert len(D.perplexity(texts)) == 3
    with pytest.raises(TimeBudgetError, match="Stopped after 0 of 3 texts"):
        D.binoculars(texts, batch_size=1, time_budget_s=1e-9)
    with pytest.raises(TimeBudgetError):
        D.perplexity(texts, time_budget_s=1e-9)
    # nor a cap on how many texts, unless given one (the app passes its own)
    monkeypatch.setenv("WORKBENCH_MAX_BATCH_TEXTS", "2")
    assert len(D.binoculars(texts)) == 3
    with pytest.raises(InputError, match="3 texts; the limit is 2 per request"):
        D.binoculars(texts, max_texts=2)


def test_the_tab_applies_the_servers_time_budget(tiny_registry, monkeypatch):
    import gradio as gr

    from tabs import detector as tab

    args = (TEXT, "tiny-a", "tiny-a", "observer", "default for this pair", 0.9)
    out = tab.DETECT.unpack(tab.detect(*args, progress=lambda *a, **k: None))
    assert "single-model mode" in out["verdict"] and 'class="tok"' in out["strip"]
    monkeypatch.setenv("WORKBENCH_TIME_BUDGET_S", "1e-9")
    with pytest.raises(gr.Error, match="time budget"):
        tab.detect(*args, progress=lambda *a, **k: None)


def test_loaded_models_are_used_as_given(tiny_registry):
    a, b = tiny_registry.get("tiny-a"), tiny_registry.get("tiny-b")
    assert D.resolve_pair(a, b) == (a, b) and D.resolve_pair() == (a, a)
    by_model = D.binoculars([TEXT], a, b)[0]
    by_name = D.binoculars([TEXT], "tiny-a", "tiny-b")[0]
    assert by_model.score == by_name.score and (by_model.observer, by_model.performer) == ("tiny-a", "tiny-b")
    assert D.binoculars([TEXT], a, a)[0].single_model
    assert D.perplexity([TEXT], a) == D.perplexity([TEXT], "tiny-a")
