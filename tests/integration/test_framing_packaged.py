"""The framing pipeline on the packaged embedder and causal LM (no cache: a sample of years)."""
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backends import framing as F
from backends.decoding import embedding_dim

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _train_module():
    spec = importlib.util.spec_from_file_location("train_framing", ROOT / "scripts" / "train_framing_classifiers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tone_classifier_cross_validated_accuracy_is_computed_and_reported(registry, capsys):
    """Re-run the nested cross-validation of the tone classifier and compare with what the tab reports."""
    train = _train_module()
    ann = pd.read_csv(F.ANNOTATIONS_PATH)
    rel = ann[ann["relevant"] == 1]
    emb = F.load_model(None, F.EMBED_SLOT)
    E = F.embed(rel["text"].tolist(), embedder=emb)
    assert E.shape == (len(rel), embedding_dim(emb)) == (len(rel), F.classifier()["tone"]["coef"].shape[1])
    cv = train.cross_validate(E, rel["tone"].to_numpy(), balanced=True)
    stored = F.classifier()["tone"]["cv"]
    with capsys.disabled():
        print(f"\n[framing] tone classifier: {cv['folds']}-fold CV accuracy {cv['accuracy']:.3f} on n={cv['n']} "
              f"(majority baseline {cv['majority_baseline']:.3f}); confusion {cv['labels']}: {cv['confusion']}")
    assert cv["n"] == stored["n"] == len(rel)
    assert np.asarray(cv["confusion"]).sum() == len(rel)
    assert abs(cv["accuracy"] - stored["accuracy"]) < 0.03  # what the UI and README report is reproducible
    assert cv["accuracy"] > cv["majority_baseline"] + 0.05  # it learned something beyond the majority label
    # The shipped coefficients reproduce the in-sample predictions of a refit.
    fit = train.fit(E, rel["tone"].to_numpy(), balanced=True)
    p_ship = F.linear_proba(E, F.classifier()["tone"]["coef"], F.classifier()["tone"]["intercept"])
    p_fit = F.linear_proba(E, np.asarray(fit["coef"]), np.asarray(fit["intercept"]))
    assert np.abs(p_ship - p_fit).max() < 1e-3


def test_corpus_analysis_on_a_sample_of_years(registry):
    df = F.analyze_corpus((1882, 1886))
    assert set(df["year"]) <= set(range(1882, 1887)) and len(df) > 300
    for col in ("fileid", "year", "president", "party", "relevant", "tone", "tone_probs", "frames", "groups"):
        assert col in df.columns
    rel = df[df["relevant"]]
    assert 5 <= len(rel) <= df["candidate"].sum()  # relevant segments are a subset of keyword candidates
    assert not df.loc[~df["candidate"], "relevant"].any()
    probs = np.stack([[p[t] for t in F.TONES] for p in rel["tone_probs"]])
    assert np.allclose(probs.sum(1), 1.0) and set(rel["tone"]) <= set(F.TONES)
    assert rel["groups"].map(lambda d: "Chinese" in d).sum() >= 2  # the Chinese Exclusion Act years
    assert rel["frames"].map(len).sum() > 0
    t = F.tone_by_period(df, by="party", period=5)
    assert set(t["party"]) <= {"Republican", "Democratic"} and (t["n"] > 0).all()
    rec = df.attrs["metaphors"]
    if len(rec):
        cats = list(F.lexicons().metaphors) + ["neutral"]
        assert (rec[cats].to_numpy() >= 0).all() and (rec[cats].to_numpy() <= 1).all()


def test_pasted_text_relevance_tone_frames_groups_and_metaphors(registry):
    pro = ("America is a nation of immigrants. Families who fled persecution built our cities and enriched our "
           "culture; we should welcome refugees and reunite families.")
    anti = ("We must stop the flood of criminal aliens pouring across our southern border. Illegal immigration brings "
            "gangs, drugs and crime into our communities, and we will deport them.")
    off = "The Secretary of the Treasury reports a surplus in the revenue and recommends a reduction of the tariff."
    a_pro, a_anti, a_off = F.analyze_text(pro), F.analyze_text(anti, zero_shot=False), F.analyze_text(off)
    assert a_pro.segments[0].relevant and a_anti.segments[0].relevant and not a_off.segments[0].relevant
    assert a_pro.mean_tone > a_anti.mean_tone
    assert a_pro.segments[0].tone_probs["pro"] > a_pro.segments[0].tone_probs["anti"]
    assert a_anti.frame_counts["crime"] >= 3 and a_anti.frame_counts["quantity"] >= 1
    assert a_pro.frame_counts["family"] >= 2 and a_pro.frame_counts["victims"] >= 1
    assert a_pro.zero_shot and sum(a_pro.zero_shot.values()) == pytest.approx(1.0)
    g = F.analyze_text("Congress has now restricted the immigration of the Chinese laborers to our Pacific coast.",
                       zero_shot=False)
    assert g.group_counts["Chinese"] == 1 and g.metaphor_slots == ["Chinese laborers"]
    assert set(g.metaphors) == set(F.lexicons().metaphors) and all(np.isfinite(list(g.metaphors.values())))

