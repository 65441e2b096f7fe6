"""The pipeline on one pasted text (:func:`analyze_text`), a segment table (:func:`analyze_segments`) and a
user's CSV (:func:`analyze_own`).

These are entry points: each names its models once (``embedder=``, ``lm=``: a loaded model, a registry name,
or None for the registry's slots), loads them only when there is work for them, and passes the loaded models
down. They run without a time budget unless given one (``time_budget_s``; the app passes its limit).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from backends.config import InputError, check_text
from backends.decoding import Deadline
from backends.framing.aggregates import era_of
from backends.framing.classifiers import (
    EMBED_SLOT,
    LM_SLOT,
    RELEVANCE_THRESHOLD,
    TONES,
    ModelArg,
    ProgressFn,
    classify,
    embed,
    load_model,
    zero_shot_tone,
)
from backends.framing.lexicon import Match, frame_names, group_names, is_candidate, lexicons
from backends.framing.metaphors import (
    Slot,
    choose_slots,
    metaphor_log_ratio,
    metaphor_records,
    person_slots,
    slot_probs,
)
from backends.framing.segments import read_corpus_csv, segment_text

MAX_TEXT_SEGMENTS = 20  # segments analysed for one pasted text
MAX_TEXT_SLOTS = 4  # group mentions probed for metaphors in one pasted text


def deadline_of(deadline: Deadline | float | None, time_budget_s: float | None) -> Deadline:
    """The request's deadline: ``deadline`` when given (a Deadline or a ``time.monotonic()`` value), else one
    ``time_budget_s`` seconds from now (None: no budget)."""
    return Deadline.of(deadline) if deadline is not None else Deadline(time_budget_s)


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


def _segment_result(text: str, p_rel: float, tone: np.ndarray) -> SegmentResult:
    """One pasted paragraph: the classifier decides alone, so an off-lexicon paragraph can still be relevant."""
    lx = lexicons()
    probs = {t: float(v) for t, v in zip(TONES, tone)}
    return SegmentResult(text, is_candidate(text), float(p_rel), bool(p_rel >= RELEVANCE_THRESHOLD), probs,
                         max(probs, key=probs.get), lx.frames.find(text), lx.groups.find(text),
                         lx.relevance.find(text))


def _text_metaphors(slots: list[Slot], lm: ModelArg, deadline: Deadline) -> dict[str, float]:
    probs = slot_probs(slots, lm=lm, deadline=deadline)
    if not probs:
        return {}
    return {cat: metaphor_log_ratio([p[cat] for p in probs], [p["neutral"] for p in probs])
            for cat in lexicons().metaphors}


def analyze_text(text: str, *, metaphors: bool = True, zero_shot: bool = True, embedder: ModelArg = None,
                 lm: ModelArg = None, time_budget_s: float | None = None) -> TextAnalysis:
    """Relevance, tone probabilities, frames with matched terms, groups and metaphor scores of a text.

    A text with blank-line paragraphs is analysed paragraph by paragraph (at most MAX_TEXT_SEGMENTS).
    A pasted text is always classified, keyword or not; ``candidate`` says whether the corpus
    pipeline would have asked the classifier. The causal LM is loaded only for the metaphor probe (when
    the text names a group of people) or the zero-shot tone.
    """
    t0 = time.perf_counter()
    dl = Deadline(time_budget_s)
    text = check_text(text, what="Text")
    segs = [t for _, _, t in segment_text(text, min_words=1)]
    if len(segs) > MAX_TEXT_SEGMENTS:
        raise InputError(f"The text has {len(segs)} paragraphs; the limit is {MAX_TEXT_SEGMENTS}. "
                         "Use the own-corpus upload for longer documents.")
    p_rel, tone = classify(embed(segs, embedder=load_model(embedder, EMBED_SLOT), deadline=dl))
    results = [_segment_result(s, pr, tp) for s, pr, tp in zip(segs, p_rel, tone)]
    rel = [r for r in results if r.relevant] or results
    mean_tone = float(np.mean([r.tone_probs["pro"] - r.tone_probs["anti"] for r in rel]))
    fc = {f: sum(1 for r in results for m in r.frames if m.label == f) for f in frame_names()}
    gc = {g: sum(1 for r in results for m in r.groups if m.label == g) for g in group_names()}
    slots = [s for seg in segs for s in person_slots(seg)][:MAX_TEXT_SLOTS] if metaphors else []
    chat = load_model(lm, LM_SLOT) if slots or zero_shot else None
    meta = _text_metaphors(slots, chat, dl) if slots else {}
    zs = None
    if zero_shot:
        zs = {t: float(v) for t, v in zip(TONES, zero_shot_tone([" ".join(segs)], lm=chat, deadline=dl)[0])}
    return TextAnalysis(results, float(np.mean([r.relevant for r in results])), mean_tone, fc, gc, meta,
                        [s.mention for s in slots], zs, time.perf_counter() - t0)


# ----- a segment table ---------------------------------------------------------------------------------
def _label_columns(df: pd.DataFrame, p_rel: np.ndarray, tone: np.ndarray) -> None:
    """Relevance and tone columns of the segment table, in place."""
    df["p_relevant"] = p_rel
    df["relevant"] = df["candidate"] & (df["p_relevant"] >= RELEVANCE_THRESHOLD)
    for j, t in enumerate(TONES):
        df[f"p_{t}"] = tone[:, j]
    df["tone_score"] = df["p_pro"] - df["p_anti"]
    df["tone"] = [TONES[j] for j in tone.argmax(1)]
    df.loc[~df["relevant"], "tone"] = ""
    df["tone_probs"] = [dict(zip(TONES, map(float, row))) for row in tone]


def _lexicon_columns(df: pd.DataFrame, rel_idx: np.ndarray) -> None:
    """Frame and group counts ({label: count}) of the relevant segments, and each segment's era, in place."""
    lx = lexicons()
    frames_col: list[dict] = [{} for _ in range(len(df))]
    groups_col: list[dict] = [{} for _ in range(len(df))]
    for i in rel_idx:
        t = df.at[i, "text"]
        frames_col[i] = {k: v for k, v in lx.frames.counts(t).items() if v}
        groups_col[i] = {k: v for k, v in lx.groups.counts(t).items() if v}
    df["frames"] = frames_col
    df["groups"] = groups_col
    df["era"] = [era_of(int(y)) for y in df["year"]]


def analyze_segments(seg: pd.DataFrame, *, progress: ProgressFn | None = None, metaphors: bool = True,
                     deadline: Deadline | float | None = None, embedder: ModelArg = None, lm: ModelArg = None,
                     time_budget_s: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the pipeline on a segment table (columns fileid, year, president, party, text, ...).

    Returns (one row per segment with relevance, tone, frames and groups; metaphor records, one row
    per scored slot with each category's probability). The embedder is loaded only when a segment has a
    relevance keyword, the causal LM only when a relevant segment names a group of people.
    """
    say = progress or (lambda f, m: None)
    dl = deadline_of(deadline, time_budget_s)
    df = seg.reset_index(drop=True).copy()
    say(0.02, f"Matching keywords in {len(df):,} segments")
    df["candidate"] = [is_candidate(t) for t in df["text"]]
    cand = np.flatnonzero(df["candidate"].to_numpy())
    p_rel = np.zeros(len(df))
    tone = np.tile(np.array([0.0, 0.0, 1.0]), (len(df), 1))
    if len(cand):
        E = embed(df["text"].iloc[cand].tolist(), embedder=load_model(embedder, EMBED_SLOT),
                  progress=lambda f, m: say(0.05 + 0.6 * f, m), deadline=dl)
        p_rel[cand], tone[cand] = classify(E)
    _label_columns(df, p_rel, tone)
    say(0.67, "Counting frames and group mentions")
    rel_idx = np.flatnonzero(df["relevant"].to_numpy())
    _lexicon_columns(df, rel_idx)
    records = pd.DataFrame()
    if metaphors and len(rel_idx):
        say(0.7, "Scoring implicit metaphors with the language model")
        chosen = choose_slots(df.iloc[rel_idx])
        chat = load_model(lm, LM_SLOT) if chosen else None
        probs = slot_probs([c[0] for c in chosen], lm=chat, progress=lambda f, m: say(0.7 + 0.28 * f, m),
                           deadline=dl)
        records = metaphor_records(chosen, probs)
    say(1.0, "Done")
    return df, records


def analyze_own(path: str | Path, *, progress: ProgressFn | None = None, deadline: Deadline | float | None = None,
                embedder: ModelArg = None, lm: ModelArg = None,
                time_budget_s: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pipeline on an uploaded CSV. Each row is one segment; every row is treated as a candidate
    only if it has a keyword, as in the corpus."""
    dl = deadline_of(deadline, time_budget_s)
    return analyze_segments(read_corpus_csv(path), progress=progress, deadline=dl, embedder=embedder, lm=lm)
