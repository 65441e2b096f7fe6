"""Framing backend without models: lexicon matching, segmentation, upload validation, aggregation maths."""
import math

import numpy as np
import pandas as pd
import pytest

from backends import framing as F
from backends.config import InputError


# ----- lexicon matching ------------------------------------------------------------------------------
def test_word_boundaries_plurals_and_case():
    lx = F.Lexicon({"crime": ["crime", "gang"], "family": ["family"], "labor": ["cheap labor", "labor"]})
    found = lx.find("CRIMES by gangs. Families split; crimeless towns; criminology; Cheap-Labor laws; laboratory.")
    got = [(m.label, m.text) for m in found]
    assert ("crime", "CRIMES") in got and ("crime", "gangs") in got  # case and plural
    assert ("family", "Families") in got  # y -> ies
    assert ("labor", "Cheap-Labor") in got  # phrase across a hyphen, longest term wins
    assert not any(m.text.lower() in ("crimeless", "criminology", "laboratory", "labor") for m in found)
    assert sum(1 for m in found if m.label == "labor") == 1  # "labor" inside "Cheap-Labor" is not counted twice
    assert [m.term for m in found if m.label == "family"] == ["family"]


def test_wildcard_es_and_men_plurals():
    lx = F.Lexicon({"a": ["immigra*"], "b": ["tax", "Chinaman"]})
    assert [m.text for m in lx.find("Immigrants and immigration; immigrate. Taxes, taxing, Chinamen.")] == [
        "Immigrants", "immigration", "immigrate", "Taxes", "Chinamen"]
    assert lx.counts("tax tax taxes") == {"a": 0, "b": 3}
    assert not lx.any("syntax and emigrants")


def test_shipped_lexicons_load_and_avoid_known_false_hits():
    lx = F.lexicons()
    assert len(F.frame_names()) == 14 and set(F.frame_names()) >= {"victims", "quantity", "legality", "background"}
    for g in ("Chinese", "Mexican", "Italian", "Irish", "German", "Japanese", "Cuban", "Asian (region)",
              "European (region)"):
        assert g in F.group_names()
    assert lx.frames.counts("Wall Street and Social Security during Prohibition")["exclusion"] == 0
    assert lx.groups.find("the Indian tribes") == []  # "Indian" means Native Americans in this corpus
    assert [m.label for m in lx.groups.find("Mexicans, Irishmen and the Chinese")] == ["Mexican", "Irish",
                                                                                           "Chinese"]
    assert F.is_candidate("The immigration laws") and not F.is_candidate("The inalienable rights of man")


def test_person_slots_only_for_people():
    slots = F.person_slots("Congress has restricted the entry of Chinese laborers into the country. "
                           "Our trade with China grew. Trade in Chinese silk grew too.")
    assert [s.mention for s in slots] == ["Chinese laborers"]
    assert slots[0].group == "Chinese" and slots[0].before.endswith("entry of")
    assert F.person_slots("Mexicans came.") == []  # too little context before the slot


# ----- segments and uploads ----------------------------------------------------------------------------
def test_segment_text_paragraphs_and_chunks():
    long_para = " ".join(f"Sentence number {i} has exactly seven words." for i in range(40))  # 280 words
    text = "To the Congress:\n\n" + "A short but real paragraph of more than eight words here.\n\n" + long_para
    segs = F.segment_text(text)
    assert segs[0] == (1, 0, "A short but real paragraph of more than eight words here.")  # salutation dropped
    chunks = [s for s in segs if s[0] == 2]
    assert len(chunks) >= 2 and all(len(t.split()) <= F.CHUNK_WORDS + 10 for _, _, t in chunks)
    assert " ".join(t for _, _, t in chunks) == long_para  # nothing lost, nothing reordered


def _csv(tmp_path, body: str):
    p = tmp_path / "c.csv"
    p.write_text(body, encoding="utf-8")
    return p


def test_read_corpus_csv_validates_row_by_row(tmp_path):
    df = F.read_corpus_csv(_csv(tmp_path, "text,year,party,speaker\nImmigrants built this land.,1999,D,Ann\n"
                                          "Aliens must be deported.,2019,republican,\n"))
    assert df["party"].tolist() == ["Democratic", "Republican"] and df["president"].tolist() == ["Ann", "(unknown)"]
    with pytest.raises(InputError, match="lacks the column.*party"):
        F.read_corpus_csv(_csv(tmp_path, "text,year\nx,1900\n"))
    with pytest.raises(InputError, match="Row 3: year 'nineteen' is not a whole number"):
        F.read_corpus_csv(_csv(tmp_path, "text,year,party\na,1900,D\nb,nineteen,R\n"))
    with pytest.raises(InputError, match="Row 2: year 3000 is outside"):
        F.read_corpus_csv(_csv(tmp_path, "text,year,party\na,3000,D\n"))
    with pytest.raises(InputError, match="Row 2: the text is empty"):
        F.read_corpus_csv(_csv(tmp_path, "text,year,party\n ,1900,D\n"))
    with pytest.raises(InputError, match="Row 2: the party is empty"):
        F.read_corpus_csv(_csv(tmp_path, "text,year,party\nabc,1900,\n"))
    rows = "".join(f"t{i},1900,D\n" for i in range(F.MAX_UPLOAD_ROWS + 1))
    with pytest.raises(InputError, match=f"Row {F.MAX_UPLOAD_ROWS + 2}: the file has more than"):
        F.read_corpus_csv(_csv(tmp_path, "text,year,party\n" + rows))
    with pytest.raises(InputError, match=r"\.csv"):
        F.read_corpus_csv(_csv(tmp_path, "x").rename(tmp_path / "c.txt"))


# ----- aggregation maths -------------------------------------------------------------------------------
def _table():
    rows = [  # year, party, tone_score, relevant, frames, groups
        (1881, "Republican", -0.5, True, {"crime": 1}, {"Chinese": 1}),
        (1885, "Republican", -0.3, True, {"labor": 2}, {"Chinese": 2}),
        (1887, "Democratic", 0.1, True, {"family": 1}, {}),
        (1889, "Democratic", 0.9, False, {}, {}),  # not relevant: ignored everywhere
        (1981, "Democratic", 0.6, True, {"family": 1, "victims": 1}, {"Mexican": 1}),
        (1983, "Democratic", 0.2, True, {"victims": 1}, {}),
        (1985, "Republican", -0.2, True, {"crime": 1}, {"Mexican": 1}),
        (1987, "Republican", 0.0, True, {}, {}),
    ]
    df = pd.DataFrame(rows, columns=["year", "party", "tone_score", "relevant", "frames", "groups"])
    df["president"] = ["A", "A", "B", "B", "C", "C", "D", "D"]
    df["tone"] = np.where(df["tone_score"] > 0.15, "pro", np.where(df["tone_score"] < -0.15, "anti", "neutral"))
    return df


def test_tone_by_period_means_and_intervals():
    t = F.tone_by_period(_table(), by="party", period=10)
    r = t[(t["period"] == 1880) & (t["party"] == "Republican")].iloc[0]
    assert r["n"] == 2 and r["tone"] == pytest.approx(-0.4)
    se = np.std([-0.5, -0.3], ddof=1) / math.sqrt(2)
    assert r["se"] == pytest.approx(se) and r["lo"] == pytest.approx(-0.4 - 1.96 * se)
    d = t[(t["period"] == 1880) & (t["party"] == "Democratic")].iloc[0]
    assert d["n"] == 1 and d["tone"] == pytest.approx(0.1) and math.isnan(d["se"])  # the irrelevant 0.9 is ignored
    all_ = F.tone_by_period(_table(), by=None, period=100)
    assert all_["n"].tolist() == [3, 4] and all_["tone"].tolist() == pytest.approx([(-0.5 - 0.3 + 0.1) / 3, 0.15])
    with pytest.raises(InputError):
        F.tone_by_period(_table(), period=0)


def test_polarisation_gap():
    g = F.polarisation_gap(_table(), since=1970, period=10)
    assert g["period"].tolist() == [1980]
    assert g["gap"].iloc[0] == pytest.approx(0.4 - (-0.1))
    se = math.sqrt((np.std([0.6, 0.2], ddof=1) / math.sqrt(2)) ** 2 + (np.std([-0.2, 0.0], ddof=1) / math.sqrt(2)) ** 2)
    assert g["se"].iloc[0] == pytest.approx(se)


def test_log_odds_ratio_and_frame_table():
    lor, se = F.log_odds_ratio(3, 10, 1, 10)
    assert lor == pytest.approx(math.log(3.5 / 7.5) - math.log(1.5 / 9.5))
    assert se == pytest.approx(math.sqrt(1 / 3.5 + 1 / 7.5 + 1 / 1.5 + 1 / 9.5))
    assert F.log_odds_ratio(5, 10, 5, 10)[0] == pytest.approx(0.0)
    lo = F.frame_log_odds(_table())
    fam = lo[(lo["era"] == "1980-today") & (lo["frame"] == "family")].iloc[0]
    assert fam["share_Democratic"] == 0.5 and fam["share_Republican"] == 0.0 and fam["log_odds"] > 0
    crime = lo[(lo["era"] == "1980-today") & (lo["frame"] == "crime")].iloc[0]
    assert crime["log_odds"] < 0 and crime["lo"] < crime["log_odds"] < crime["hi"]


def test_group_tables_and_presidents():
    gt = F.group_tone(_table())
    chinese = gt[gt["group"] == "Chinese"].iloc[0]
    assert chinese["n"] == 2 and chinese["tone"] == pytest.approx(-0.4) and chinese["share_anti"] == 1.0
    gf = F.group_frames(_table())
    mex = gf[(gf["group"] == "Mexican") & (gf["frame"] == "crime")].iloc[0]
    assert mex["n"] == 2 and mex["share"] == 0.5
    p = F.president_tone(_table(), min_n=1).set_index("president")
    assert p.loc["A", "tone"] == pytest.approx(-0.4) and math.isnan(p.loc["A", "party_era_tone"])  # no other R then
    assert p.loc["C", "tone"] == pytest.approx(0.4) and p.loc["C", "n"] == 2


def test_filter_segments():
    df = _table()
    assert len(F.filter_segments(df, party="Republican", frame="crime")) == 2
    assert len(F.filter_segments(df, group="Mexican", years=(1980, 1984))) == 1
    assert len(F.filter_segments(df, party="Democratic", relevant_only=False)) == 4
    assert F.filter_segments(df, frame="quantity").empty


# ----- metaphors and classifier maths ------------------------------------------------------------------
def test_metaphor_log_ratio_on_hand_made_probabilities():
    assert F.metaphor_log_ratio([0.02, 0.04], [0.1, 0.2]) == pytest.approx(math.log(0.03 / 0.15))
    assert F.metaphor_log_ratio([0.3], [0.3]) == pytest.approx(0.0)
    with pytest.raises(InputError):
        F.metaphor_log_ratio([], [])
    rec = pd.DataFrame([
        {"group": "X", "era": "e", "neutral": 0.1, **{c: 0.01 for c in F.lexicons().metaphors}, "animals": 0.05},
        {"group": "Y", "era": "e", "neutral": 0.1, **{c: 0.01 for c in F.lexicons().metaphors}},
    ])
    t = F.metaphor_table(rec).set_index(["group", "category"])
    assert t.loc[("X", "animals"), "log_ratio"] == pytest.approx(math.log(0.5))
    # all groups in the era: mean animals prob 0.03 vs neutral 0.1
    assert t.loc[("X", "animals"), "vs_all_groups"] == pytest.approx(math.log(0.5) - math.log(0.3))
    assert t.loc[("Y", "cargo"), "vs_all_groups"] == pytest.approx(0.0)


def test_linear_proba_matches_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    y3 = np.array(["a", "b", "c"])[rng.integers(0, 3, 60)]
    m3 = LogisticRegression(max_iter=1000).fit(X, y3)
    assert np.allclose(F.linear_proba(X, m3.coef_, m3.intercept_), m3.predict_proba(X))
    y2 = rng.integers(0, 2, 60)
    m2 = LogisticRegression(max_iter=1000).fit(X, y2)
    assert np.allclose(F.linear_proba(X, m2.coef_, m2.intercept_), m2.predict_proba(X))


def test_shipped_classifier_and_annotations_are_consistent():
    c = F.classifier()
    ann = pd.read_csv(F.ANNOTATIONS_PATH)
    assert len(ann) >= 300 and set(ann["tone"]) <= set(F.TONES) and set(ann["relevant"]) <= {0, 1}
    assert (ann.loc[ann["relevant"] == 0, "tone"] == "neutral").all()
    assert ann["year"].min() < 1800 and ann["year"].max() > 2020 and {"Democratic", "Republican"} <= set(ann["party"])
    assert c["annotations"]["n"] == len(ann) and c["annotations"]["relevant"] == int(ann["relevant"].sum())
    width = np.asarray(c["relevance"]["coef"]).shape[1]  # the embedder's width, whatever it is
    assert sorted(c["tone"]["classes"]) == sorted(F.TONES) and np.asarray(c["tone"]["coef"]).shape == (3, width)
    cv = c["tone"]["cv"]
    assert 0.0 < cv["accuracy"] <= 1.0 and sum(map(sum, cv["confusion"])) == cv["n"]


def test_highlight_escapes_and_marks():
    from tabs.framing import highlight

    text = "Chinese <b>laborers</b> & crime"
    lx = F.lexicons()
    out = highlight(text, lx.frames.find(text), lx.groups.find(text))
    assert "&lt;b&gt;" in out and "<b>" not in out  # user text is escaped, never rendered as HTML
    assert 'class="fr-group"' in out and 'title="group: Chinese"' in out
    assert 'title="frame: crime"' in out and "&amp;" in out


# ----- typed lexicons, the corpus cache, models passed down -------------------------------------------
def test_lexicons_are_typed_and_complete():
    lx = F.lexicons()
    assert isinstance(lx, F.Lexicons)
    assert isinstance(lx.frames, F.Lexicon) and isinstance(lx.groups, F.Lexicon) and isinstance(lx.relevance, F.Lexicon)
    assert set(lx.regions) == set(lx.groups.labels) and set(lx.group_words.labels) == set(lx.groups.labels)
    assert lx.person_nouns.match(" laborers") and not lx.person_nouns.match(" trade")
    assert "animals" in lx.metaphors and lx.neutral_nouns and all(isinstance(w, str) for w in lx.neutral_nouns)


def test_corpus_cache_round_trip_and_corruption(tmp_path):
    """Atomic write, read back, and a damaged or foreign file is deleted rather than trusted."""
    path = tmp_path / "framing" / "corpus-k.pkl"
    F.write_cache(path, {"key": "k", "segments": pd.DataFrame({"a": [1]}), "metaphors": pd.DataFrame()})
    assert F.read_cache(path, "k")["segments"]["a"].tolist() == [1]
    assert F.read_cache(path, "other") is None and not path.exists()  # wrong key: removed, will be rebuilt
    path.write_bytes(b"not a pickle")
    assert F.read_cache(path, "k") is None and not path.exists()
    assert not list(path.parent.glob(".tmp-*"))  # no temporary left behind


class _HashEmbedder:
    """A sentence-transformers stand-in: bag-of-words vectors hashed into ``dim`` dimensions."""

    def __init__(self, dim: int):
        self.dim = dim

    def get_sentence_embedding_dimension(self) -> int:
        return self.dim

    def encode(self, texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=False,
               show_progress_bar=False):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, sum(map(ord, w)) % self.dim] += 1.0
        return out


def _fake_embedder(dim: int):
    from backends.models import EMBEDDER, LOCAL, LoadedModel, ModelSpec

    spec = ModelSpec("hash-embedder", EMBEDDER, LOCAL, "/nonexistent", description="unit-test embedder")
    return LoadedModel(spec, _HashEmbedder(dim), None, "cpu", "float32", 0, 0, 0.0, "folder")


@pytest.fixture()
def no_registry(monkeypatch):
    """Fail any attempt to reach the global model registry: models must come in as arguments."""
    from backends import models

    def refuse(*a, **k):
        raise AssertionError("the framing pipeline reached for the global registry")

    monkeypatch.setattr(models, "registry", refuse)


def test_models_passed_in_are_used_and_the_registry_is_never_asked(no_registry):
    from tests.fakes import tiny_lm

    width = np.asarray(F.classifier()["relevance"]["coef"]).shape[1]
    emb, lm = _fake_embedder(width), tiny_lm()
    text = ("Congress has now restricted the immigration of the Chinese laborers to our Pacific coast.\n\n"
            "The tariff on steel will be lowered next year, and the treasury reports a surplus.")
    a = F.analyze_text(text, embedder=emb, lm=lm)
    assert len(a.segments) == 2 and a.metaphor_slots == ["Chinese laborers"]
    assert set(a.metaphors) == set(F.lexicons().metaphors) and all(np.isfinite(list(a.metaphors.values())))
    assert a.zero_shot is not None and sum(a.zero_shot.values()) == pytest.approx(1.0)
    seg = pd.DataFrame({"fileid": ["x", "y"], "paragraph": [0, 1], "part": [0, 0], "year": [1882, 1990],
                        "president": ["A", "B"], "party": ["Republican", "Democratic"],
                        "text": [text.split("\n\n")[0], "The tariff on steel will be lowered next year."]})
    df, _ = F.analyze_segments(seg, embedder=emb, lm=lm)
    assert df["candidate"].tolist() == [True, False] and df.loc[1, "p_relevant"] == 0.0
    with pytest.raises(InputError, match="wide embeddings"):  # an embedder of another width is named, not crashed on
        F.analyze_text(text, embedder=_fake_embedder(width + 1), metaphors=False, zero_shot=False)


def test_next_token_logits_match_the_right_padded_forward_pass():
    """The framing probes read each text's next-token logits from one left-padded prefill; they equal the
    logits at each text's last position of a right-padded forward pass (what the pipeline read before)."""
    import torch

    from backends import lm as L
    from backends.framing.classifiers import next_token_logits
    from tests.fakes import tiny_lm

    model = tiny_lm()
    texts = ["the border is closed", "a", "immigrants built the cities of the west coast", "we welcome them"]
    got = torch.zeros(len(texts), L.vocab_size(model))
    for idx, logits in next_token_logits(model, texts, max_tokens=64, batch_size=3):
        got[idx] = logits
    want = torch.zeros_like(got)
    for batch in L.forward_logits(model, texts, max_tokens=64, batch_size=2):
        last = batch.attention_mask.sum(1) - 1
        want[batch.indices] = batch.logits[torch.arange(len(batch.indices)), last]
    assert torch.allclose(got, want, atol=1e-4)


def test_time_budget_applies_only_when_given(no_registry):
    from backends.decoding import TimeBudgetError

    width = np.asarray(F.classifier()["relevance"]["coef"]).shape[1]
    emb = _fake_embedder(width)
    seg = pd.DataFrame({"fileid": ["x"], "paragraph": [0], "part": [0], "year": [1990], "president": ["A"],
                        "party": ["Democratic"], "text": ["We welcome immigrants and refugees to our nation."]})
    df, _ = F.analyze_segments(seg, embedder=emb, metaphors=False)  # no budget: runs to the end
    assert bool(df.loc[0, "candidate"])
    with pytest.raises(TimeBudgetError, match="time budget"):
        F.analyze_segments(seg, embedder=emb, metaphors=False, time_budget_s=-1.0)
