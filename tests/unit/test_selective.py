"""ASPIRE's selection scores and their bookkeeping, checked against hand-computed numbers (no model)."""
import math

import numpy as np
import pytest

from backends.config import InputError
from backends.selective import scores as S
from backends.selective.evaluate import (
    Answered,
    Item,
    alpha_sweep,
    evaluate_selective,
    load_items,
    metrics_of,
    summarise,
)
from backends.selective.soft_prompt import _weights, split, training_examples


def test_predictive_entropy_is_minus_mean_sequence_logprob():
    assert S.predictive_entropy([-1.0, -3.0]) == pytest.approx(2.0)
    assert S.predictive_entropy([-0.5]) == pytest.approx(0.5)
    assert math.isnan(S.predictive_entropy([]))


def test_cluster_entropy_hand_numbers():
    # Two distinct answers, equally likely: ln 2. Repeats of "12" count once.
    assert S.cluster_entropy(["12", "12", "7"], [-1.0, -1.0, -1.0]) == pytest.approx(math.log(2))
    # "Paris" and "paris." are one cluster (p = 0.5 + 0.3), "London" another (0.2).
    h = S.cluster_entropy(["Paris", "paris.", "London"], [math.log(0.5), math.log(0.3), math.log(0.2)])
    assert h == pytest.approx(-(0.8 * math.log(0.8) + 0.2 * math.log(0.2)))
    # One meaning written three ways: no uncertainty.
    assert S.cluster_entropy(["3 * 4 = 12", "12", "4 * 3 = 12"], [-2.0, -1.0, -3.0]) == pytest.approx(0.0)


def test_clusters_group_equivalent_answers():
    assert S.clusters(["12", "3 * 4 = 12", "13", "North Carolina", "north carolina."]) == [0, 0, 1, 2, 2]
    assert S.equivalent("General Anthony Wayne", "General Wayne") is True  # Rouge-L 0.8 > 0.7
    assert S.equivalent("Virginia", "North Carolina") is False


def test_p_yes_is_normalised_over_yes_and_no():
    assert S.p_yes(0.0, 0.0) == pytest.approx(0.5)
    assert S.p_yes(2.0, 0.0) == pytest.approx(1 / (1 + math.exp(-2)))
    assert S.p_yes(2.0, 0.0) + S.p_yes(0.0, 2.0) == pytest.approx(1.0)
    assert S.log_p_yes(2.0, 0.0) == pytest.approx(math.log(S.p_yes(2.0, 0.0)))
    assert S.log_p_yes(-1000.0, 0.0) == pytest.approx(-1000.0)  # stable far in the tail
    assert S.log_p_yes(1000.0, 0.0) == pytest.approx(0.0)


def test_aspire_mix_formula():
    assert S.aspire(-0.5, math.log(0.8), 0.25) == pytest.approx(0.75 * -0.5 + 0.25 * math.log(0.8))
    assert S.aspire(-0.5, -2.0, 0.0) == pytest.approx(-0.5)
    assert S.aspire(-0.5, -2.0, 1.0) == pytest.approx(-2.0)
    np.testing.assert_allclose(S.aspire(np.array([-1.0, 0.0]), np.array([0.0, -1.0]), 0.5), [-0.5, -0.5])


def test_correctness_rule():
    assert S.is_correct("13 * 11 - 5 = 138", ["138"])
    assert S.is_correct("1,200", ["1200"])
    assert not S.is_correct("138 - 5 = 133", ["138"])
    assert not S.is_correct("no idea", ["138"])
    assert S.is_correct("General Wayne", ["General Wayne", "Wayne"])
    # Rouge-L F of "the army under general wayne" against "general wayne": P 2/5, R 1, F 0.57 < 0.7.
    assert not S.is_correct("The army under General Wayne.", ["General Wayne"])
    assert S.is_correct("general anthony wayne", ["General Wayne"])  # 0.8
    assert "number" in S.rule_text(["138"]) and "Rouge-L" in S.rule_text(["Wayne"])


def test_selection_scores_are_oriented_higher_is_surer():
    sure = S.selection_scores(-0.1, ["12", "12", "12"], [-0.2, -0.2, -0.2], math.log(0.9))
    unsure = S.selection_scores(-2.0, ["1", "2", "3"], [-5.0, -6.0, -7.0], math.log(0.2))
    assert all(sure[k] > unsure[k] for k in S.SCORES)


def _answered(answer, refs, samples, lps, lpy=-0.5, i=0):
    return Answered(Item(f"q{i}", f"question {i}", tuple(refs)), answer, [-0.5, -0.5], samples, lps, lpy)


def test_summarise_computes_metrics_with_the_shared_definitions():
    rows = [_answered("12", ["12"], ["12", "12"], [-1.0, -1.0], math.log(0.9), 0),
            _answered("7", ["8"], ["7", "9"], [-3.0, -4.0], math.log(0.3), 1),
            _answered("5", ["5"], ["5", "6"], [-1.0, -2.0], math.log(0.6), 2)]
    res = summarise("cot", "fake", rows, n_samples=2, alpha=0.25, seed=0, temperature=1.0, n_boot=50, seconds=1.0)
    assert res.correct == [True, False, True] and res.accuracy == pytest.approx(2 / 3)
    # P(Yes) ranks both right answers above the wrong one: AUROC 1, accuracy at coverage 1/3, 2/3, 1.
    assert res.auroc["self_eval"] == pytest.approx(1.0)
    assert res.auacc["self_eval"] == pytest.approx((1 + 1 + 2 / 3) / 3)
    assert res.alpha_sweep["alpha"][0] == 0.0 and res.alpha_sweep["alpha"][-1] == 1.0
    assert res.alpha_sweep["auroc"][-1] == pytest.approx(res.auroc["self_eval"])
    assert set(res.auroc) == set(S.SCORES) and res.records()[1]["correct"] is False
    lo, hi = res.auacc_ci["self_eval"]
    assert lo <= hi


def test_alpha_sweep_endpoints_are_the_two_scores():
    lik, lpc, y = [-1.0, -0.2, -0.5, -0.9], [-0.1, -2.0, -0.3, -1.5], [True, False, True, False]
    sweep = alpha_sweep(lik, lpc, y, alphas=(0.0, 1.0))
    au, _, _, _, _ = metrics_of({"lik": lik, "p": lpc}, y, n_boot=0)
    assert sweep["auroc"] == pytest.approx([au["lik"], au["p"]])


def test_training_examples_follow_s_c_and_s_w():
    a = _answered("3 * 4 = 12", ["12"], ["12", "13", "3*4=12", "20", "13"], [-1.0, -2.0, -3.0, -4.0, -2.0])
    ex = training_examples([a], k_c=2, k_w=1)
    # the reference; the two most likely correct answers other than it; the most likely wrong one.
    assert [(e.answer, e.correct) for e in ex] == [("12", True), ("3 * 4 = 12", True), ("13", False)]
    assert _weights(ex) == pytest.approx([3 / 4, 3 / 4, 3 / 2])  # class means weighted equally


def test_split_is_seeded_and_disjoint():
    tr, te = split(10, 0.5, 3)
    assert split(10, 0.5, 3) == (tr, te) and len(tr) == 5 and not set(tr) & set(te)
    assert len(split(2, 0.9, 0)[1]) == 1


def test_load_items_and_bad_inputs():
    items = load_items("cot", 3)
    assert len(items) == 3 and items[0].references == ("138",) and items[0].context is None
    with pytest.raises(InputError, match="dataset"):
        load_items("coqa")
    with pytest.raises(InputError, match="Samples"):
        evaluate_selective("cot", object(), n_samples=1, limit=3)
    with pytest.raises(InputError, match="alpha"):
        evaluate_selective("cot", object(), alpha=1.5, limit=3)


def test_rag_questions_come_with_their_top_bm25_passage():
    from backends.rag.evaluation import load_qa
    from backends.selective.evaluate import load_items

    items = load_items("rag", limit=3)
    qa = load_qa()[:3]
    assert [it.id for it in items] == [q["id"] for q in qa]  # the original questions first
    assert all(it.context.startswith("Passage") and q["answer"] in it.references for it, q in zip(items, qa))
    # BM25 finds the answer-bearing passage for the first one (Washington's 1790 address on North Carolina).
    assert "North Carolina" in items[0].context
