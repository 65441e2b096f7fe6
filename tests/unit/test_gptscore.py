"""GPTScore without real models: the formulas on hand-made numbers (a fake scorer), the templates, the
damage generators and the meta-evaluation's correlations."""
from types import SimpleNamespace

import numpy as np
import pytest

from backends import gptscore as G
from backends.config import InputError
from backends.lm import Continuation

SOURCE = "The treaty was signed in 1848 by Mexico and the United States after two years of war."


@pytest.fixture
def fake(monkeypatch):
    """score_continuations returns per-token log-probs looked up by (prefix contains, target); it records calls."""
    table: dict[str, list[float]] = {}
    calls: list[tuple[list[str], list[str]]] = []

    def fake_score(lm, prefixes, targets, **kw):
        calls.append((list(prefixes), list(targets)))
        out = []
        for p, t in zip(prefixes, targets):
            key = next(k for k in table if k.split("|")[1] == t and k.split("|")[0] in p)
            lp = np.array(table[key])
            out.append(Continuation(p, t, list(range(len(lp))), [f"t{i}" for i in range(len(lp))], lp, False))
        return out

    monkeypatch.setattr(G, "score_continuations", fake_score)
    monkeypatch.setattr(G, "model_of", lambda m: SimpleNamespace(name="fake"))
    return SimpleNamespace(table=table, calls=calls)


def test_src_hypo_is_the_mean_token_logprob_and_sum_is_the_total(fake):
    fake.table["Passage:\nS|h1"] = [-1.0, -2.0, -3.0]
    fake.table["Passage:\nS|h2"] = [-0.5, -0.5]
    r = G.gptscore(["h1", "h2"], source="S", aspect="fluency")
    assert [x.score for x in r] == pytest.approx([-2.0, -0.5])
    assert r[0].tokens == ["t0", "t1", "t2"] and list(r[0].token_logprobs) == [-1.0, -2.0, -3.0]
    assert r[0].weights == pytest.approx([1 / 3] * 3)
    assert len(fake.calls) == 1 and fake.calls[0][1] == ["h1", "h2"]  # one batched call
    assert G.gptscore(["h1"], source="S", weighting="sum")[0].score == pytest.approx(-6.0)


def test_token_weights_are_normalised_to_a_weighted_mean(fake):
    fake.table["S|h"] = [-1.0, -4.0]
    r = G.gptscore(["h"], source="S", weighting=lambda toks: [3.0, 1.0])
    assert r[0].score == pytest.approx(0.75 * -1.0 + 0.25 * -4.0)
    with pytest.raises(InputError, match="non-negative"):
        G.token_weights(["a", "b"], lambda t: [1.0])
    with pytest.raises(InputError, match="Weighting"):
        G.token_weights(["a"], "median")


def test_reference_variants_avg_and_the_max_over_references(fake):
    # ref->hypo: p(h | ref); hypo->ref: p(ref | h). Two references.
    fake.table["Reference:\nR1|h"] = [-2.0, -2.0]  # ref1 -> hypo: -2
    fake.table["Reference:\nR2|h"] = [-1.0, -3.0, -2.0]  # ref2 -> hypo: -2
    fake.table["Reference:\nh|R1"] = [-1.0]  # hypo -> ref1: -1
    fake.table["Reference:\nh|R2"] = [-4.0, -2.0]  # hypo -> ref2: -3
    refs = ["R1", "R2"]
    rh = G.gptscore(["h"], reference=refs, variant="ref->hypo")[0]
    assert rh.reference_scores == pytest.approx([-2.0, -2.0]) and rh.score == pytest.approx(-2.0)
    hr = G.gptscore(["h"], reference=refs, variant="hypo->ref")[0]
    assert hr.reference_scores == pytest.approx([-1.0, -3.0]) and hr.score == -1.0 and hr.best_reference == 0
    assert list(hr.token_logprobs) == [-1.0]  # the view shows the best reference's tokens
    avg = G.gptscore(["h"], reference=refs, variant="avg")[0]
    assert avg.reference_scores == pytest.approx([-1.5, -2.5])  # 0.5 (ref->hypo + hypo->ref) per reference
    assert avg.score == pytest.approx(-1.5) and avg.directions == {"ref->hypo": -2.0, "hypo->ref": -1.0}
    assert len(fake.calls[-1][0]) == 4  # both directions, both references, one call


def test_variants_check_their_inputs(fake):
    with pytest.raises(InputError, match="reference"):
        G.gptscore(["h"], source="S", variant="avg")
    with pytest.raises(InputError, match="Source"):
        G.gptscore(["h"], variant="src->hypo")
    with pytest.raises(InputError, match="Variant"):
        G.gptscore(["h"], source="S", variant="h->s")
    with pytest.raises(InputError, match="empty"):
        G.gptscore(["  "], source="S")
    with pytest.raises(InputError, match="Unknown aspect"):
        G.gptscore(["h"], source="S", aspect="wit")


def test_templates_per_scenario():
    a = G.load_aspects()
    assert G.build_prefix("SRC", scenario="VAL") == "SRC\n"
    ist = G.build_prefix("SRC", scenario="IST", aspect="fluency")
    assert ist.startswith(a.task) and a.definitions["fluency"] in ist and ist.endswith("Passage:\nSRC\nText:\n")
    own = G.build_prefix("SRC", scenario="IST", aspect="wit", definition="The text must be witty.")
    assert "witty" in own
    idm = G.build_prefix("SRC", scenario="IDM", aspect="consistency", demonstrations=[("d-src", "d-hyp")])
    assert idm.index("d-src\nText:\nd-hyp") < idm.index("Passage:\nSRC")
    assert "d-src" not in G.build_prefix("SRC", scenario="IST", demonstrations=[("d-src", "d-hyp")])
    assert {"fluency", "consistency", "relevance", "informativeness"} <= set(a.definitions) and a.demonstrations


def test_damage_generators_are_deterministic_and_graded():
    a, b = G.shuffle_words(SOURCE, 0.5, 3), G.shuffle_words(SOURCE, 0.5, 3)
    assert a == b != SOURCE and sorted(a.split()) == sorted(SOURCE.split())
    moved = [sum(x != y for x, y in zip(G.shuffle_words(SOURCE, f, 3).split(), SOURCE.split())) for f in (0.1, 0.5)]
    assert moved[0] == 2 and moved[1] == round(0.5 * len(SOURCE.split()))  # each chosen word leaves its place
    assert G.truncate_sentences("One two three four. Five six seven eight!", 0.5) == "One two. Five six!"
    assert G.truncate_sentences("One two three four.", 0.0) == "One two three four."
    spans = [SOURCE[s:e] for s, e, _ in G.fact_spans(SOURCE)]
    assert spans == ["1848", "Mexico", "United", "States"]
    s1, s2 = G.swap_facts(SOURCE, 4, 7, ["France", "Spain", "Peru", "Chile"]), G.swap_facts(SOURCE, 4, 7,
                                                                                          ["France", "Spain", "Peru",
                                                                                           "Chile"])
    assert s1 == s2 and "1848" not in s1 and "Mexico" not in s1 and len(s1.split()) == len(SOURCE.split())
    hyps = G.graded_hypotheses(SOURCE, 1, ["France", "Spain"])
    assert [(h["kind"], h["level"]) for h in hyps][:2] == [("intact", 0), ("shuffle", 1)] and len(hyps) == 10
    assert hyps == G.graded_hypotheses(SOURCE, 1, ["France", "Spain"])


def test_the_shipped_set_matches_its_generator():
    items = G.load_meta_eval()
    assert 20 <= len(items) <= 30
    names = ["X"]  # the levels and kinds, whatever the names
    for it in items[:3]:
        hyps = it.hypotheses
        assert hyps[0]["text"] == it.source and hyps[0]["level"] == 0
        assert [(h["kind"], h["level"]) for h in hyps] == [(h["kind"], h["level"])
                                                           for h in G.graded_hypotheses(it.source, 0, names)]
        assert all(h["text"] != it.source for h in hyps[1:4])  # shuffles change the text


def _records(scores_by_level):
    """Two sources; each scorer's score given as a function of (axis, level)."""
    recs = []
    for src in ("a", "b"):
        for axis, kind in (("none", "intact"), ("fluency", "shuffle"), ("consistency", "swap")):
            for lvl in ([0] if kind == "intact" else [1, 2, 3]):
                recs.append({"source_id": src, "axis": axis, "kind": kind, "level": lvl,
                             **{s: f(axis, lvl) for s, f in scores_by_level.items()}})
    return recs


def test_correlations_per_axis_and_the_cross_test():
    recs = _records({
        "VAL": lambda axis, lvl: -lvl if axis == "fluency" else 0.0 * lvl + (lvl == 2),  # fluency only
        "IST-fluency": lambda axis, lvl: -lvl,  # perfect on both axes
        "IST-consistency": lambda axis, lvl: lvl if axis == "fluency" else -lvl,  # inverted on fluency
    })
    ev = G.summarize(recs, ["VAL", "IST-fluency", "IST-consistency"], "fake", 0.0, n_boot=50)
    assert ev.spearman["VAL"]["fluency"] == pytest.approx(1.0) and ev.kendall["VAL"]["fluency"] == pytest.approx(1.0)
    assert ev.spearman["IST-fluency"]["consistency"] == pytest.approx(1.0)
    assert ev.spearman["IST-consistency"]["fluency"] == pytest.approx(-1.0)
    # VAL on consistency: levels 0,1,2,3 scored 0,0,1,0 -> rho of (0,0,1,0) with (0,-1,-2,-3)
    assert ev.spearman["VAL"]["consistency"] == pytest.approx(-0.2581988897)
    assert ev.pooled_spearman["VAL"]["fluency"] == pytest.approx(1.0)  # both sources alike: pooled = per source
    assert ev.pooled_spearman["IST-consistency"]["consistency"] == pytest.approx(1.0)
    lo, hi = ev.spearman_ci["VAL"]["fluency"]
    assert lo == hi == pytest.approx(1.0) and ev.n_sources == 2
    # IST-fluency lifts consistency (+1.26) more than fluency (0): the claim fails on that half.
    assert ev.lift("fluency", "consistency") > ev.lift("fluency", "fluency") and ev.claim_holds is False
    assert G.summarize(recs, ["VAL"], "fake", 0.0, n_boot=10).claim_holds is None


def test_meta_evaluate_scores_every_hypothesis_with_each_scorer(fake):
    items = [G.MetaItem("s0", "SRC", tuple(G.graded_hypotheses(SOURCE, 0, ["France"])[:4]))]
    for h in items[0].hypotheses:  # a fake model whose log-prob falls with the damage level
        fake.table[f"|{h['text']}"] = [-1.0 - h["level"], -1.0]
    ev = G.meta_evaluate(items=items, scorers=["VAL", "IST-fluency", "perplexity", "Rouge-L"], n_boot=20)
    assert len(ev.records) == 4 and ev.spearman["IST-fluency"]["fluency"] == pytest.approx(1.0)
    assert ev.records[0]["Rouge-L"] == pytest.approx(G.rouge_l(SOURCE, "SRC"))
    prefixes = fake.calls[-1][0]
    assert len(prefixes) == 12 and prefixes.count("") == 4  # perplexity: no prefix; one batched call per source
    with pytest.raises(InputError, match="scorer"):
        G.meta_evaluate(items=items, scorers=["BLEU"])
    with pytest.raises(InputError, match="unknown aspect"):
        G.meta_evaluate(items=items, scorers=["IST-wit"])
