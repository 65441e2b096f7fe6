"""Lexicons of the framing pipeline: frames, groups, relevance keywords, person nouns and metaphor words.

All of them live in ``assets/framing`` (``frames.json``, ``groups.json``, ``lexicon.json``) and are compiled
once, at first use, by :func:`lexicons`.
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "framing"
FRAMES_PATH = ASSETS / "frames.json"
GROUPS_PATH = ASSETS / "groups.json"
LEXICON_PATH = ASSETS / "lexicon.json"


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


@dataclass(frozen=True)
class Lexicons:
    """Every lexicon of the pipeline, compiled (see :func:`lexicons`)."""

    frames: Lexicon  # frame -> terms (frames.json: 14 frames)
    groups: Lexicon  # group -> its words and places (groups.json): what a group mention is
    group_words: Lexicon  # group -> its words only ("Chinese", "Mexicans"): candidates for a person slot
    regions: dict[str, str]  # group -> the region it belongs to
    relevance: Lexicon  # one label, "keyword": a segment with a match is a candidate for the classifier
    person_nouns: re.Pattern  # a person noun right after a group word ("laborers" in "Chinese laborers")
    metaphors: dict[str, list[str]]  # metaphor category -> words scored in a person slot
    neutral_nouns: list[str]  # the neutral nouns each category is compared with


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def lexicons() -> Lexicons:
    """All lexicons from assets/framing, compiled once."""
    frames = read_json(FRAMES_PATH)["frames"]
    groups = read_json(GROUPS_PATH)["groups"]
    lex = read_json(LEXICON_PATH)
    person = "|".join(_term_pattern(t)[2:] for t in lex["person_nouns"])  # [2:]: the leading \b goes
    return Lexicons(
        frames=Lexicon(frames),
        groups=Lexicon({g: spec["words"] + spec["places"] for g, spec in groups.items()}),
        group_words=Lexicon({g: spec["words"] for g, spec in groups.items()}),
        regions={g: spec["region"] for g, spec in groups.items()},
        relevance=Lexicon({"keyword": lex["relevance"]}),
        person_nouns=re.compile(r"(?:\s+|-)(?:" + person + ")", re.I),
        metaphors=lex["metaphors"],
        neutral_nouns=lex["neutral_nouns"],
    )


def frame_names() -> list[str]:
    return lexicons().frames.labels


def group_names() -> list[str]:
    return lexicons().groups.labels


def is_candidate(text: str) -> bool:
    """Does the segment contain a relevance keyword?"""
    return lexicons().relevance.any(text)
