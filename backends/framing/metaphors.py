"""Implicit metaphors: in a sentence that names a group of people, how likely does the causal LM find each
metaphor category's words (animals, cargo, disease, ...) in the mention's place, against neutral nouns?

:func:`person_slots` finds the mentions, :func:`slot_probs` scores them, :func:`metaphor_log_ratio` and
:func:`metaphor_table` aggregate. After the masked-LM probe of Card et al. (2022), with a causal LM.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from backends import decoding
from backends.config import InputError
from backends.framing.classifiers import LM_SLOT, ModelArg, ProgressFn, first_token_ids, load_model, next_token_logits
from backends.framing.lexicon import lexicons
from backends.framing.segments import split_sentences

if TYPE_CHECKING:
    from backends.models import LoadedModel

# Metaphor scoring caps: sentences per (group, era) cell and in all, so the corpus run fits its time.
METAPHOR_PER_CELL = 10
METAPHOR_MAX_SENTENCES = 200
METAPHOR_CONTEXT_TOKENS = 20  # words of left context kept before the slot
METAPHOR_MIN_CONTEXT = 3  # slots with fewer words before them are skipped


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
        for m in lx.group_words.find(sent):
            end = m.end
            follow = lx.person_nouns.match(sent, end)
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


def slot_probs(slots: Sequence[Slot], *, lm: ModelArg = None, batch_size: int = 32,
               progress: ProgressFn | None = None,
               deadline: decoding.Deadline | float | None = None) -> list[dict[str, float]]:
    """For each slot, the causal LM's probability of each category's words (summed) in the slot.

    ``lm``: a loaded model, a name, or None (the registry's chat slot; loaded only when there are slots).
    A causal LM sees only the left context, so the slot's probability of word w is
    P(w | text before the mention): one forward pass per slot reads the next-token distribution,
    and each candidate word is scored by its first token (all but one or two of the shipped words
    are single tokens for SmolLM2; for the others this is an upper bound). The study's masked LM
    also saw the right context; this is the cheaper left-context version of the same question.
    Returns, per slot, {category: summed probability, ..., "neutral": summed probability}.
    """
    import torch

    if not slots:
        return []
    model: LoadedModel = load_model(lm, LM_SLOT)
    lx = lexicons()
    words = {**lx.metaphors, "neutral": lx.neutral_nouns}
    ids = {cat: first_token_ids(model, ws) for cat, ws in words.items()}
    out: list[dict[str, float] | None] = [None] * len(slots)
    for idx, logits in next_token_logits(model, [s.before for s in slots], max_tokens=64, batch_size=batch_size,
                                         progress=progress, deadline=deadline, what="sentences"):
        p = torch.softmax(logits, dim=-1)  # (B, V)
        for row, i in enumerate(idx):
            out[i] = {cat: float(p[row, ids[cat]].sum()) for cat in words}
    return [o for o in out if o is not None]


def choose_slots(rel: pd.DataFrame) -> list[tuple[Slot, int, str]]:
    """(slot, segment index, era) to score from relevant segments (columns text, era): at most
    METAPHOR_PER_CELL per (group, era), drawn with a fixed seed, and METAPHOR_MAX_SENTENCES in all."""
    found: dict[tuple[str, str], list[tuple[Slot, int]]] = {}
    for idx, row in rel.iterrows():
        for s in person_slots(row["text"]):
            found.setdefault((s.group, row["era"]), []).append((s, idx))
    rng = np.random.default_rng(0)
    chosen: list[tuple[Slot, int, str]] = []
    for (_group, era), items in sorted(found.items()):
        pick = rng.permutation(len(items))[:METAPHOR_PER_CELL]
        chosen.extend((items[k][0], items[k][1], era) for k in sorted(pick))
    return chosen[:METAPHOR_MAX_SENTENCES]


def metaphor_records(chosen: Sequence[tuple[Slot, int, str]], probs: Sequence[dict[str, float]]) -> pd.DataFrame:
    """One row per scored slot: group, era, segment, mention and each category's probability."""
    rows = [{"group": s.group, "era": era, "segment": int(idx), "mention": s.mention, **p}
            for (s, idx, era), p in zip(chosen, probs)]
    return pd.DataFrame(rows)


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
    cats = list(lexicons().metaphors)
    rows = []
    for era, sub_era in records.groupby("era"):
        base = {c: metaphor_log_ratio(sub_era[c], sub_era["neutral"]) for c in cats}
        for g, sub in sub_era.groupby("group"):
            for c in cats:
                lr = metaphor_log_ratio(sub[c], sub["neutral"])
                rows.append({"group": g, "era": era, "category": c, "n": len(sub), "log_ratio": lr,
                             "vs_all_groups": lr - base[c]})
    return pd.DataFrame(rows)
