"""GPTScore on the packaged base model of the test profile (tiny: Gemma-3-270M). Kept to a dozen short
scored texts: Gemma's 262k-entry vocabulary makes every scored position cost."""
import numpy as np
import pytest

from backends import gptscore as G
from backends.lm import score_continuations

pytestmark = pytest.mark.integration
SOURCE = ("The Congress passed the act in 1862, and within two years the railroad reached the western plains, "
          "carrying settlers and grain to the markets of the East.")
FLUENT = "The railroad reached the western plains two years after Congress passed the act in 1862."
SHUFFLED = G.shuffle_words(FLUENT, 1.0, 0)


def test_fluent_text_beats_its_shuffled_words(registry):
    r = G.gptscore([FLUENT, SHUFFLED], source=SOURCE, aspect="fluency", scenario="IST")
    assert r[0].model == registry.slots["base"] and r[0].score > r[1].score
    assert "".join(r[0].tokens).strip() == FLUENT  # the scored tokens are the hypothesis's, nothing else
    assert r[0].score == pytest.approx(float(np.mean(r[0].token_logprobs)))
    # Batched or one at a time: the same numbers (float32 on this profile).
    alone = G.gptscore([SHUFFLED], source=SOURCE, aspect="fluency", scenario="IST")[0]
    assert alone.score == pytest.approx(r[1].score, abs=1e-4)


def test_avg_takes_both_directions_at_the_best_reference(registry):
    refs = ["Congress passed the act in 1862.", "Settlers moved west."]
    avg = G.gptscore([FLUENT], reference=refs, variant="avg", scenario="VAL")[0]
    assert avg.score == max(avg.reference_scores) and len(avg.reference_scores) == 2
    assert avg.score == pytest.approx(0.5 * (avg.directions["ref->hypo"] + avg.directions["hypo->ref"]))
    best = refs[avg.best_reference]
    lm = G.model_of(None)
    rh, hr = score_continuations(lm, [f"{best}\n", f"{FLUENT}\n"], [FLUENT, best])
    assert avg.directions == pytest.approx({"ref->hypo": rh.mean, "hypo->ref": hr.mean}, abs=1e-4)


def test_meta_evaluate_on_a_short_item(registry):
    hyps = G.graded_hypotheses(SOURCE, 0, ["France", "Ohio"])
    item = G.MetaItem("short", SOURCE, tuple(h for h in hyps if (h["kind"], h["level"]) in
                                             {("intact", 0), ("shuffle", 1), ("shuffle", 3), ("swap", 3)}))
    ev = G.meta_evaluate(items=[item], scorers=["VAL", "Rouge-L"], n_boot=50)
    assert ev.n_sources == 1 and len(ev.records) == 4 and ev.model == registry.slots["base"]
    assert all(np.isfinite(r[s]) for r in ev.records for s in ("VAL", "Rouge-L"))
    assert ev.spearman["VAL"]["fluency"] > 0  # shuffled copies of the source are less likely after it
