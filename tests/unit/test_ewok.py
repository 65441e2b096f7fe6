"""EWoK: the item-scoring rule, aggregation, the template generator and the item set, input checks, and the
evaluation's plumbing on a tiny random model (no real model)."""
import json
from dataclasses import asdict

import numpy as np
import pytest

from backends import ewok as E
from backends.config import InputError
from backends.lm import score_continuations
from tests.fakes import tiny_lm


@pytest.fixture(scope="module")
def lm():
    return tiny_lm(seed=4)


@pytest.fixture(scope="module")
def spec():
    return json.loads(E.TEMPLATES_PATH.read_text(encoding="utf-8"))


# ----- the rule on hand-made numbers -----------------------------------------------------------------

@pytest.mark.parametrize("t1c1, t1c2, t2c1, t2c2, expected", [
    (-1.0, -2.0, -3.0, -1.5, 1.0),  # T1 prefers C1 and T2 prefers C2
    (-1.0, -2.0, -1.0, -3.0, 0.5),  # only T1 right
    (-2.0, -1.0, -3.0, -1.0, 0.5),  # only T2 right
    (-2.0, -1.0, -1.0, -3.0, 0.0),  # both wrong: the pairing is swapped
    (-1.0, -1.0, -3.0, -1.0, 0.5),  # a tie fails its half
    (-4.0, -4.0, -4.0, -4.0, 0.0),  # a model that cannot tell the contexts apart scores 0
])
def test_item_score(t1c1, t1c2, t2c1, t2c2, expected):
    assert E.item_score(t1c1, t1c2, t2c1, t2c2) == expected


def _result(domain, score, i=0):
    return E.ItemResult(f"x{i}", domain, "c", "logprobs", 0.0, 0.0, 0.0, 0.0, score)


def test_aggregation_by_domain_and_intervals():
    results = [_result("spatial relations", s, i) for i, s in enumerate([1, 0, 0.5, 0.5])]
    results += [_result("social interactions", s, 10 + i) for i, s in enumerate([1, 1, 0.5])]
    ev = E.summarise("m", "logprobs", results, 8, 2.0, n_boot=200)
    # Paper order: social interactions before spatial relations.
    assert list(ev.accuracy_by_domain) == ["social interactions", "spatial relations"]
    assert ev.accuracy_by_domain["social interactions"] == pytest.approx(2.5 / 3)
    assert ev.accuracy_by_domain["spatial relations"] == pytest.approx(0.5)
    assert ev.n_by_domain == {"social interactions": 3, "spatial relations": 4}
    assert ev.accuracy == pytest.approx(4.5 / 7) and ev.n == 7 and not ev.complete
    lo, hi = ev.interval_by_domain["spatial relations"]
    assert 0 <= lo <= 0.5 <= hi <= 1 and lo < hi
    assert ev.seconds_per_item == pytest.approx(2 / 7)
    assert ev.records[0]["model"] == "m" and ev.records[0]["score"] == 1


# ----- the generator and the shipped set ---------------------------------------------------------------

def test_generator_is_deterministic_for_a_seed(spec):
    a, b = E.build_items(spec, seed=3, versions=3), E.build_items(spec, seed=3, versions=3)
    assert a == b
    assert a != E.build_items(spec, seed=4, versions=3)


def test_shipped_items_are_the_seed_0_build(spec):
    """assets/ewok/items.jsonl is what scripts/build_ewok_items.py writes from the templates (rebuild it)."""
    assert E.load_items() == E.build_items(spec, seed=0, versions=8)


def test_shipped_items_are_well_formed():
    items = E.load_items()
    assert len(items) >= 500
    assert len({it.domain for it in items}) >= 8 and {it.domain for it in items} <= set(E.DOMAINS)
    assert E.check_items(items) == []
    for it in items:
        assert all(x and x[0].isupper() and x.rstrip()[-1] in ".?!" for x in
                   (it.context1, it.context2, it.target1, it.target2)), it
        assert it.context1 != it.context2 and it.target1 != it.target2
    # Several filler versions per template, and the versions of a template differ.
    by_template = {}
    for it in items:
        by_template.setdefault(it.template, set()).add(it.context1 + it.target1)
    assert min(len(v) for v in by_template.values()) >= 5


def test_typed_fillers_and_articles(spec):
    rollable = [E._word(f) for f in E.candidates(spec["fillers"], "object:can_roll")]
    assert "ball" in rollable and "book" not in rollable
    assert "ball" not in [E._word(f) for f in E.candidates(spec["fillers"], "object:!can_roll")]
    assert E.fill("{a} gave {g.a} to {b}.", {"a": "Ali", "g": "apple", "b": "Zoe"}) == "Ali gave an apple to Zoe."
    assert E.fill("there are {k.sum}.", {"k": {"word": "5-3", "sum": "eight"}}) == "There are eight."
    with pytest.raises(ValueError, match="unknown filler class"):
        E.candidates(spec["fillers"], "spaceship")
    # Two variables of one template never share a filler.
    for it in E.build_items(spec, seed=1, versions=2):
        if it.template == "si-give":
            names = it.context1.split(" gave ")
            assert names[0] != names[1].split(" ")[0]


def test_check_items_finds_problems():
    bad = [E.Item("a", "spatial relations", "c", "C.", "C.", "T1.", "T2."),
           E.Item("a", "space", "c", "C1 {x}.", "C2.", "T.", "T.")]
    problems = " ".join(E.check_items(bad))
    for what in ("identical", "unknown domain", "duplicate id", "unfilled"):
        assert what in problems


def test_sample_items_is_seeded_and_per_domain():
    items = E.load_items()
    s = E.sample_items(items, domains=["spatial relations", "social interactions"], per_domain=5, seed=7)
    assert len(s) == 10 and [it.domain for it in s] == ["spatial relations"] * 5 + ["social interactions"] * 5
    assert s == E.sample_items(items, domains=["spatial relations", "social interactions"], per_domain=5, seed=7)
    assert s != E.sample_items(items, domains=["spatial relations", "social interactions"], per_domain=5, seed=8)
    with pytest.raises(InputError, match="Unknown domain"):
        E.sample_items(items, domains=["astrology"], per_domain=2)


# ----- input checks -----------------------------------------------------------------------------------

def test_check_pair_messages(lm):
    ok = E.check_pair(" The cup is left. ", "The cup is right.", "It is left.", "It is right.")
    assert ok.context1 == "The cup is left." and ok.domain == "custom"
    with pytest.raises(InputError, match="Context 2 is empty"):
        E.check_pair("a", "  ", "b", "c")
    with pytest.raises(InputError, match="identical"):
        E.check_pair("same", "same", "b", "c")
    with pytest.raises(InputError, match="Target 1 and Target 2 are identical"):
        E.check_pair("a", "b", "t", "t")
    with pytest.raises(InputError, match="limit"):
        E.check_pair("a" * (E.MAX_FIELD_CHARS + 1), "b", "c", "d")
    with pytest.raises(InputError, match="Unknown metric"):
        E.evaluate_ewok(E.load_items()[:1], lm, metric="likert")
    with pytest.raises(InputError, match="No items"):
        E.evaluate_ewok([], lm)


# ----- evaluation plumbing on a tiny random model -------------------------------------------------------

ITEMS = [E.Item(f"i{k}", d, "c", c1, c2, t1, t2) for k, (d, c1, c2, t1, t2) in enumerate([
    ("spatial relations", "the cup is on the left.", "the cup is on the right.", "it is left.", "it is right."),
    ("social interactions", "ann helped bo.", "ann hit bo.", "ann is kind.", "ann is mean."),
    ("spatial relations", "bo sits behind ann.", "bo sits in front of ann.", "ann is first.", "bo is first."),
])]


def test_evaluate_logprobs_matches_score_continuations(lm):
    ev = E.evaluate_ewok(ITEMS, lm, n_boot=50)
    assert ev.n == ev.n_requested == 3 and ev.complete and ev.metric == "logprobs"
    assert {r.score for r in ev.results} <= {0.0, 0.5, 1.0}
    it = ITEMS[1]
    conts = score_continuations(lm, [it.context1, it.context2, it.context1, it.context2],
                                [" " + it.target1, " " + it.target1, " " + it.target2, " " + it.target2])
    r = ev.results[1]
    assert [r.t1c1, r.t1c2, r.t2c1, r.t2c2] == pytest.approx([c.total for c in conts], abs=1e-4)
    assert r.score == E.item_score(*(c.total for c in conts))
    assert ev.accuracy == pytest.approx(np.mean([x.score for x in ev.results]))


def test_choice_reads_label_1_as_context_1_for_each_target(lm):
    """CHOICE's t1c1 is log P(" 1" | prompt of T1), t1c2 log P(" 2" | prompt of T1), and so on; each prompt
    shows both contexts and its target."""
    ev = E.evaluate_ewok(ITEMS, lm, metric="choice", n_boot=50)
    for it, r in zip(ITEMS, ev.results):
        p1, p2 = (E.choice_prompt(it.context1, it.context2, t) for t in (it.target1, it.target2))
        assert all(x in p1 for x in (it.context1, it.context2, it.target1)) and it.target2 in p2
        conts = score_continuations(lm, [p1, p1, p2, p2], [" 1", " 2", " 1", " 2"])
        assert [r.t1c1, r.t1c2, r.t2c1, r.t2c2] == pytest.approx([c.total for c in conts], abs=1e-4)
        assert r.metric == "choice" and r.score in (0.0, 0.5, 1.0)


def test_time_budget_stops_between_chunks(lm):
    ev = E.evaluate_ewok(ITEMS, lm, time_budget_s=0.0, n_boot=10)
    assert ev.n == 0 and ev.n_requested == 3 and not ev.complete and np.isnan(ev.accuracy)


def test_score_pair_per_token_terms(lm):
    p = E.score_pair("the cup is on the left.", "the cup is on the right.", "it is left.", "it is right.", lm)
    assert [s.label for s in p.scored] == ["T1|C1", "T1|C2", "T2|C1", "T2|C2"]
    for s in p.scored:
        assert len(s.tokens) == len(s.logprobs) > 0 and s.total == pytest.approx(sum(s.logprobs))
    assert p.logprobs.t1c1 == pytest.approx(p.scored[0].total)
    assert p.logprobs.score in (0.0, 0.5, 1.0) and p.choice.score in (0.0, 0.5, 1.0)
    assert asdict(p.item)["target2"] == "it is right."
