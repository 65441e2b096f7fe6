"""The benchmark evaluation as the "detector" sweep, in-process on tiny random models: the same figures as
scoring every text in one call, stop and resume, clear errors, and the tab's streaming."""
import pytest

from backends import detector as D
from backends import sweeps
from backends.config import InputError

HUMAN = ["the senate met on tuesday and argued about the budget for hours.",
         "we walked along the river until the light faded, talking of nothing much.",
         "my grandmother kept bees, and every august the kitchen smelled of wax."]
MACHINE = ["as an ai language model, i can help you with many different tasks today.",
           "in conclusion, it is important to note that there are many factors to consider.",
           "the benefits of exercise include improved health, better mood, and more energy."]
# Interleaved, so that the first sweep batch (4 texts) holds both labels.
ITEMS = [D.BenchmarkItem(t, "human", "sotu") if i % 2 == 0 else D.BenchmarkItem(t, "machine", "gen", "tiny-b")
         for i, t in enumerate(x for pair in zip(HUMAN, MACHINE) for x in pair)]


def _reference(observer, performer, target_fpr=0.34):
    """What evaluate computed before it ran as a sweep: every text in one binoculars call."""
    res = D.binoculars([it.text for it in ITEMS], observer, performer, threshold=0.0, min_tokens=1)
    rows = [{"label": it.label, "generator": it.generator or "human", "binoculars": r.score, "log_ppl": r.log_ppl,
             "log_xppl": r.log_xppl, "n_tokens": r.n_tokens} for it, r in zip(ITEMS, res)]
    return D.evaluation_of(rows, target_fpr)


def _same(ev, ref):
    assert len(ev.scores) == len(ref.scores) == len(ITEMS)
    for a, b in zip(ev.scores, ref.scores):
        assert (a["label"], a["generator"], a["n_tokens"]) == (b["label"], b["generator"], b["n_tokens"])
        for key in ("binoculars", "log_ppl", "log_xppl"):
            assert a[key] == pytest.approx(b[key], rel=1e-5)
    for name in ("binoculars", "perplexity"):
        c, r = getattr(ev, name), getattr(ref, name)
        assert (c.auroc, c.tpr_at_fpr, c.n_human, c.n_machine) == (r.auroc, r.tpr_at_fpr, r.n_human, r.n_machine)
        assert c.threshold == pytest.approx(r.threshold, rel=1e-5)
    assert ev.by_generator == ref.by_generator and ev.tokens == ref.tokens  # AUROCs count orderings: exact


@pytest.mark.parametrize("pair", [("tiny-a", "tiny-a"), ("tiny-a", "tiny-b")])
def test_the_sweep_gives_the_figures_of_one_call(tiny_registry, pair):
    ev = D.evaluate(ITEMS, *pair, target_fpr=0.34)
    _same(ev, _reference(*pair))
    assert ev.stopped == "" and ev.sweep["backend"] == "local" and ev.sweep["items"] == len(ITEMS)
    assert ev.sweep["failed"] == 0
    # Loaded models are used as given (the in-process backend takes them as its ready state).
    a, b = tiny_registry.get(pair[0]), tiny_registry.get(pair[1])
    _same(D.evaluate(ITEMS, a, b, target_fpr=0.34), ev)


def test_the_kind_batches_four_texts_and_loads_the_pair_by_name(tiny_registry):
    kind = sweeps.kind_of("detector")
    assert kind is D.SWEEP and kind.batch_size == D.SWEEP_BATCH == 4
    options = D.sweep_options(None, "tiny-b")
    assert options == {"observer": "tiny-a", "performer": "tiny-b", "numerator": "observer"}
    assert kind.models(options) == ["tiny-a", "tiny-b"] and kind.models(D.sweep_options()) == ["tiny-a"]
    state = kind.setup(D.sweep_options("tiny-a", "tiny-a", "performer"))
    assert state["observer"] is state["performer"] is tiny_registry.get("tiny-a")  # one model, loaded once
    rows = kind.run(state, [D.benchmark_item(it) for it in ITEMS[:2]], [0, 0])
    assert [r["label"] for r in rows] == ["human", "machine"] and rows[1]["generator"] == "tiny-b"
    assert rows[0]["generator"] == "human" and sweeps.round_trip(rows) == rows  # JSON-able as they are


def test_a_time_cap_keeps_the_scored_texts_and_resume_finishes_them(tiny_registry):
    full = D.evaluate(ITEMS, target_fpr=0.34)
    part = D.evaluate(ITEMS, target_fpr=0.34, time_budget_s=1e-9)  # stops after the first batch
    assert part.stopped == "time cap" and len(part.scores) == D.SWEEP_BATCH
    assert part.scores == full.scores[:D.SWEEP_BATCH]
    done = D.evaluate(ITEMS, target_fpr=0.34, resume=True)
    assert done.sweep["resumed"] == D.SWEEP_BATCH and not done.stopped
    assert all(list(r) == list(D.ROW_KEYS) for r in done.scores)  # one column order, resumed rows too
    _same(done, full)


def test_bad_requests_get_clear_messages(tiny_registry):
    with pytest.raises(InputError, match="false-positive rate"):
        D.evaluate(ITEMS, target_fpr=1.5)
    with pytest.raises(InputError, match="numerator"):
        D.evaluate(ITEMS, numerator="both")
    with pytest.raises(InputError, match="ROC needs at least one human and one machine"):
        D.evaluate([it for it in ITEMS if it.label == "human"])
    with pytest.raises(InputError, match="no items"):
        D.evaluate([])


def test_the_tab_streams_progress_then_the_report(tiny_registry, monkeypatch):
    from tabs import detector as tab

    monkeypatch.setenv("WORKBENCH_MAX_TOKENS", "64")  # 25 benchmark texts, cut short: a few seconds

    outs = [tab.EVALUATION.unpack(o) for o in tab.evaluate_benchmark("tiny-a", "tiny-a", "observer", 10.0, 5,
                                                                     "in-process", 1, False,
                                                                     progress=lambda *a, **k: None)]
    assert len(outs) >= 2 and all("**Sweep:**" in o["summary"] for o in outs)
    assert outs[0]["roc"] is None and outs[0]["export"] is None
    final = outs[-1]
    assert "AUROC" in final["summary"] and "(local)" in final["summary"] and final["roc"] is not None
    n = len(D.sample_benchmark(D.load_benchmark(), 5))
    assert f"{n}/{n} items" in final["summary"]
    assert open(final["export"]).read().count("\n") == n + 1
