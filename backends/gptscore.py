"""GPTScore (Fu et al. 2023): score a text by how likely a language model finds it, given an instruction
that names the aspect evaluated, the source and optional demonstrations.

GPTScore(h | d, a, S) = sum_t w_t log p(h_t | h_<t, T(d, a, S)), in nats per token; with the default
w_t = 1/m (m tokens in h) it is the mean token log-probability, as the authors' code computes it.

- Variants: ``src->hypo`` p(h | source) (reference-free), ``ref->hypo`` p(h | reference) (precision-like),
  ``hypo->ref`` p(reference | h) (recall-like), ``avg`` = 0.5 (ref->hypo + hypo->ref). With several
  references, the best (max) reference counts.
- Scenarios: ``VAL`` (the bare source, then the text), ``IST`` (an instruction with the aspect's
  definition), ``IDM`` (the instruction plus demonstrations of good texts in the same template).

All conditional scoring goes through :func:`backends.lm.score_continuations`, one batched call per
request. :func:`meta_evaluate` runs the built-in graded-damage set (``assets/gptscore/meta_eval.jsonl``,
built by ``scripts/build_gptscore_set.py``) and reports rank correlations per scorer and damage axis.
"""
from __future__ import annotations

import json
import math
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from backends.config import InputError, check_count, check_text, limits
from backends.decoding import Deadline
from backends.lm import Continuation, ProgressFn, score_continuations
from backends.metrics import bootstrap_ci, kendall, rouge_l, spearman
from backends.models import LoadedModel, loaded

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "gptscore"
ASPECTS_PATH = ASSETS / "aspects.json"
META_EVAL_PATH = ASSETS / "meta_eval.jsonl"
VARIANTS = ("src->hypo", "ref->hypo", "hypo->ref", "avg")
SCENARIOS = ("VAL", "IST", "IDM")
WEIGHTINGS = ("mean", "sum")
AXES = ("fluency", "consistency")
DEFAULT_SCORERS = ("VAL", "IST-fluency", "IST-consistency", "perplexity", "Rouge-L")
MAX_REFERENCES = 8

Weighting = str | Callable[[list[str]], Sequence[float]]


# ----- aspects and templates --------------------------------------------------------------------------


@dataclass(frozen=True)
class AspectSet:
    """The task line, one definition per aspect, and demonstrations (``assets/gptscore/aspects.json``)."""

    task: str
    definitions: dict[str, str]
    demonstrations: tuple[tuple[str, str], ...]  # (source, good hypothesis) pairs


def load_aspects(path: Path = ASPECTS_PATH) -> AspectSet:
    raw = json.loads(Path(path).read_text())
    return AspectSet(raw["task"], dict(raw["aspects"]),
                     tuple((d["source"], d["hypothesis"]) for d in raw.get("demonstrations", [])))


def build_prefix(condition: str, *, scenario: str = "IST", aspect: str = "fluency", definition: str | None = None,
                 demonstrations: Sequence[tuple[str, str]] = (), label: str = "Passage",
                 aspects: AspectSet | None = None) -> str:
    """T(d, a, S): the text the scored target follows. It ends with a newline, so the target's first token
    is its own (the target needs no separator).

    VAL: the condition alone. IST: the task and the aspect's definition, the condition under ``label``,
    then "Text:". IDM: as IST, with the demonstrations in the same layout before the condition.
    """
    if scenario not in SCENARIOS:
        raise InputError(f"Scenario must be one of {', '.join(SCENARIOS)}, got {scenario!r}.")
    if scenario == "VAL":
        return f"{condition}\n"
    aspects = aspects or load_aspects()
    if definition is None:
        if aspect not in aspects.definitions:
            raise InputError(f"Unknown aspect {aspect!r}: pick one of {', '.join(aspects.definitions)}, or give "
                             "its definition.")
        definition = aspects.definitions[aspect]
    head = f"{aspects.task} {definition.strip()}\n\n"
    demos = "".join(f"{label}:\n{s}\nText:\n{h}\n\n" for s, h in demonstrations) if scenario == "IDM" else ""
    return f"{head}{demos}{label}:\n{condition}\nText:\n"


# ----- the score --------------------------------------------------------------------------------------


def token_weights(tokens: list[str], weighting: Weighting = "mean") -> np.ndarray:
    """w_t for the m target tokens: "mean" 1/m (the authors' code), "sum" 1 (the paper's formula with
    equal weights), or a callable giving raw weights per token, normalised to sum to 1 (a weighted mean)."""
    m = len(tokens)
    if weighting == "mean":
        return np.full(m, 1.0 / m) if m else np.zeros(0)
    if weighting == "sum":
        return np.ones(m)
    if callable(weighting):
        w = np.asarray(weighting(list(tokens)), dtype=float)
        if w.shape != (m,) or not np.isfinite(w).all() or (w < 0).any() or (m and w.sum() <= 0):
            raise InputError("Token weights must be one non-negative number per token, not all zero.")
        return w / w.sum() if m else w
    raise InputError(f"Weighting must be one of {', '.join(WEIGHTINGS)} or a function, got {weighting!r}.")


def weighted_score(logprobs: np.ndarray, weights: np.ndarray) -> float:
    """sum_t w_t log p_t (NaN for an empty target)."""
    return float(np.dot(weights, logprobs)) if len(logprobs) else float("nan")


@dataclass(frozen=True)
class ScoredTarget:
    """One direction of one comparison: log p(target | prefix) per token, and its weighted score."""

    direction: str  # "src->hypo", "ref->hypo" or "hypo->ref"
    reference: int | None  # which reference (None for src->hypo)
    tokens: list[str]  # (m,) the target's tokens
    token_logprobs: np.ndarray  # (m,) nats
    weights: np.ndarray  # (m,)
    score: float
    truncated: bool


@dataclass(frozen=True)
class GPTScoreResult:
    """The GPTScore of one hypothesis. ``tokens``/``token_logprobs`` are those of the text the score reads:
    the hypothesis for src->hypo, ref->hypo and avg (its ref->hypo direction), the best reference for hypo->ref."""

    hypothesis: str
    score: float  # nats per token with the mean weighting; higher is better
    tokens: list[str]
    token_logprobs: np.ndarray
    weights: np.ndarray
    variant: str
    scenario: str
    aspect: str
    model: str
    best_reference: int | None  # the reference that gave the max (None for src->hypo)
    reference_scores: list[float]  # the variant's score against each reference (empty for src->hypo)
    directions: dict[str, float] = field(default_factory=dict)  # each direction's score at the best reference
    truncated: bool = False

    def to_dict(self) -> dict:
        return {"hypothesis": self.hypothesis, "score": self.score, "variant": self.variant,
                "scenario": self.scenario, "aspect": self.aspect, "model": self.model,
                "best_reference": self.best_reference, "reference_scores": self.reference_scores,
                "directions": self.directions, "truncated": self.truncated, "tokens": self.tokens,
                "token_logprobs": [float(x) for x in self.token_logprobs], "weights": [float(x) for x in self.weights]}


def combine(variant: str, hypothesis: str, targets: dict[tuple[str, int | None], ScoredTarget], n_refs: int, *,
            scenario: str, aspect: str, model: str) -> GPTScoreResult:
    """The variant's score from its directions: avg = 0.5 (ref->hypo + hypo->ref) per reference, then the max
    over references. ``targets`` maps (direction, reference index) to that direction's scored target."""
    if variant == "src->hypo":
        t = targets[("src->hypo", None)]
        return GPTScoreResult(hypothesis, t.score, t.tokens, t.token_logprobs, t.weights, variant, scenario, aspect,
                              model, None, [], {"src->hypo": t.score}, t.truncated)
    per_ref = []
    for r in range(n_refs):
        if variant == "avg":
            per_ref.append(0.5 * (targets[("ref->hypo", r)].score + targets[("hypo->ref", r)].score))
        else:
            per_ref.append(targets[(variant, r)].score)
    best = int(np.nanargmax(per_ref)) if not all(math.isnan(s) for s in per_ref) else 0
    shown = targets[("hypo->ref" if variant == "hypo->ref" else "ref->hypo", best)]
    dirs = {d: targets[(d, best)].score for d in ("ref->hypo", "hypo->ref") if (d, best) in targets}
    trunc = any(t.truncated for (d, r), t in targets.items() if r == best)
    return GPTScoreResult(hypothesis, per_ref[best], shown.tokens, shown.token_logprobs, shown.weights, variant,
                          scenario, aspect, model, best, per_ref, dirs, trunc)


def model_of(model: str | LoadedModel | None) -> LoadedModel:
    """A LoadedModel as given, else a name or slot (None: the "base" slot) from the registry."""
    return loaded(model, "base")


def _references(reference: str | Sequence[str] | None) -> list[str]:
    refs = [reference] if isinstance(reference, str) else list(reference or [])
    refs = [check_text(r, what=f"Reference {i + 1}") for i, r in enumerate(refs)]
    if len(refs) > MAX_REFERENCES:
        raise InputError(f"Give at most {MAX_REFERENCES} references, got {len(refs)}.")
    return refs


def gptscore(hypotheses: Sequence[str], source: str | None = None, reference: str | Sequence[str] | None = None, *,
             aspect: str = "fluency", variant: str = "src->hypo", scenario: str = "IST", definition: str | None = None,
             demonstrations: Sequence[tuple[str, str]] | None = None, weighting: Weighting = "mean",
             model: str | LoadedModel | None = None, max_tokens: int = 1024, batch_size: int | None = None,
             time_budget_s: float | None = None, progress: ProgressFn | None = None) -> list[GPTScoreResult]:
    """GPTScore of each hypothesis, in input order; every direction of every hypothesis in one batched call.

    ``source`` is needed by src->hypo, ``reference`` (one text or several) by the other variants.
    ``definition`` replaces the aspect's default definition (then any aspect name may be given);
    ``demonstrations`` are (source, good text) pairs for IDM (default: the assets' ones).
    ``time_budget_s``: None means no budget. ``batch_size`` None: 16 per pass, one on int8
    models (:func:`backends.lm.scoring_batch_size`).
    """
    if isinstance(hypotheses, str):
        hypotheses = [hypotheses]
    hyps = [check_text(h, what=f"Hypothesis {i + 1}") for i, h in enumerate(hypotheses)]
    if not hyps:
        raise InputError("Give at least one hypothesis to score.")
    if len(hyps) > limits().max_batch_texts:
        raise InputError(f"At most {limits().max_batch_texts} hypotheses per call, got {len(hyps)}.")
    if variant not in VARIANTS:
        raise InputError(f"Variant must be one of {', '.join(VARIANTS)}, got {variant!r}.")
    if definition is not None:
        definition = check_text(definition, what="Aspect definition")
    aspects = load_aspects()
    demos = aspects.demonstrations if demonstrations is None else tuple(demonstrations)
    lm = model_of(model)

    def prefix(cond: str, label: str) -> str:
        return build_prefix(cond, scenario=scenario, aspect=aspect, definition=definition, demonstrations=demos,
                            label=label, aspects=aspects)

    keys, prefixes, targets = [], [], []
    if variant == "src->hypo":
        src = prefix(check_text(source, what="Source"), "Passage")
        for i, h in enumerate(hyps):
            keys.append((i, "src->hypo", None))
            prefixes.append(src)
            targets.append(h)
    else:
        refs = _references(reference)
        if not refs:
            raise InputError(f"The {variant} variant compares with a reference: give at least one.")
        for i, h in enumerate(hyps):
            for r, ref in enumerate(refs):
                if variant in ("ref->hypo", "avg"):
                    keys.append((i, "ref->hypo", r))
                    prefixes.append(prefix(ref, "Reference"))
                    targets.append(h)
                if variant in ("hypo->ref", "avg"):
                    keys.append((i, "hypo->ref", r))
                    prefixes.append(prefix(h, "Reference"))
                    targets.append(ref)
    conts = score_continuations(lm, prefixes, targets, max_tokens=max_tokens,
                                batch_size=batch_size, deadline=Deadline(time_budget_s),
                                progress=progress)
    by_hyp: list[dict] = [{} for _ in hyps]
    for (i, d, r), c in zip(keys, conts):
        by_hyp[i][(d, r)] = scored(c, d, r, weighting)
    n_refs = 0 if variant == "src->hypo" else len(_references(reference))
    return [combine(variant, h, by_hyp[i], n_refs, scenario=scenario, aspect=aspect, model=lm.name)
            for i, h in enumerate(hyps)]


def scored(c: Continuation, direction: str, reference: int | None, weighting: Weighting = "mean") -> ScoredTarget:
    w = token_weights(c.tokens, weighting)
    return ScoredTarget(direction, reference, c.tokens, c.logprobs, w, weighted_score(c.logprobs, w), c.truncated)


# ----- graded damage (the meta-evaluation set) -------------------------------------------------------

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_NUMBER = re.compile(r"\b\d[\d,]*(?:\.\d+)?\b")
_NAME = re.compile(r"(?<=[a-z,;:] )[A-Z][a-z]{2,}\b")  # a capitalised word inside a sentence: a name


def shuffle_words(text: str, fraction: float, seed: int) -> str:
    """Move round(fraction * n) of the n words: the chosen positions pass their words on by one (a cycle),
    so each chosen word leaves its place. Deterministic for a seed."""
    w = text.split()
    k = min(len(w), round(fraction * len(w)))
    if k < 2:
        return text
    pos = sorted(random.Random(seed).sample(range(len(w)), k))
    moved = [w[p] for p in pos]
    for p, word in zip(pos, moved[1:] + moved[:1]):
        w[p] = word
    return " ".join(w)


def truncate_sentences(text: str, fraction: float) -> str:
    """Cut the last ceil(fraction * n) words of every sentence of n words (at least one word kept), keeping
    its final punctuation: each sentence ends abruptly."""
    out = []
    for s in _SENTENCE.split(text.strip()):
        w = s.split()
        end = s[-1] if s and s[-1] in ".!?" else ""
        keep = max(1, len(w) - math.ceil(fraction * len(w)))
        kept = " ".join(w[:keep]).rstrip(".,;:!?")
        out.append(kept + end if keep < len(w) else s)
    return " ".join(out)


def fact_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of the numbers and mid-sentence names a consistency damage can change."""
    spans = [(m.start(), m.end(), "number") for m in _NUMBER.finditer(text) if any(ch.isdigit() for ch in m.group())]
    taken = [(a, b) for a, b, _ in spans]
    spans += [(m.start(), m.end(), "name") for m in _NAME.finditer(text)
              if not any(a < m.end() and m.start() < b for a, b in taken)]
    return sorted(spans)


def _other_number(s: str, rng: random.Random) -> str:
    digits = s.replace(",", "")
    value = float(digits)
    if re.fullmatch(r"1[6-9]\d\d|20\d\d", digits):  # a year: another year nearby
        new = int(value) + rng.choice([-1, 1]) * rng.randint(3, 40)
    else:
        new = max(0, round(value * rng.choice([0.3, 0.5, 2, 3, 10]) + rng.choice([-1, 1, 2])))
        if new == value:
            new = value + 7
    out = f"{new:,.0f}" if "," in s else (f"{new:.{len(digits.split('.')[1])}f}" if "." in digits else str(int(new)))
    return out


def swap_facts(text: str, count: int, seed: int, names: Sequence[str]) -> str:
    """Change ``count`` facts: a number becomes another number of the same form (a year another year), a
    name another name from ``names``. The sentences stay fluent; only their agreement with the source breaks."""
    spans = fact_spans(text)
    if not spans:
        return text
    rng = random.Random(seed)
    chosen = sorted(rng.sample(spans, min(count, len(spans))), reverse=True)
    present = set(_NAME.findall(text))
    pool = [n for n in names if n not in present]  # a name new to the text, each used once
    rng.shuffle(pool)
    for a, b, kind in chosen:  # from the end, so earlier offsets stay valid
        old = text[a:b]
        new = _other_number(old, rng) if kind == "number" else (pool.pop() if pool else old)
        text = text[:a] + new + text[b:]
    return text


# Damage strength per level 1, 2, 3 of each kind (level 0 is the intact text).
SHUFFLE_FRACTIONS = (0.1, 0.25, 0.5)  # fraction of words moved
TRUNCATE_FRACTIONS = (0.15, 0.3, 0.5)  # fraction of each sentence's words cut from its end
SWAP_COUNTS = (1, 2, 4)  # facts changed


def graded_hypotheses(source: str, seed: int, names: Sequence[str]) -> list[dict]:
    """The intact source (level 0) and its damaged versions at levels 1-3: fluency by word shuffles and by
    sentence truncation, consistency by changed facts. Deterministic for a seed."""
    out = [{"text": source, "axis": "none", "kind": "intact", "level": 0, "damage": "none"}]
    for lvl, f in enumerate(SHUFFLE_FRACTIONS, 1):
        out.append({"text": shuffle_words(source, f, seed * 100 + lvl), "axis": "fluency", "kind": "shuffle",
                    "level": lvl, "damage": f"{f:.0%} of words moved"})
    for lvl, f in enumerate(TRUNCATE_FRACTIONS, 1):
        out.append({"text": truncate_sentences(source, f), "axis": "fluency", "kind": "truncate", "level": lvl,
                    "damage": f"last {f:.0%} of each sentence cut"})
    for lvl, n in enumerate(SWAP_COUNTS, 1):
        out.append({"text": swap_facts(source, n, seed * 100 + 10 + lvl, names), "axis": "consistency",
                    "kind": "swap", "level": lvl, "damage": f"{n} number(s) or name(s) changed"})
    return out


# ----- meta-evaluation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetaItem:
    """One source with its graded hypotheses (level 0: the source itself, undamaged, on every axis)."""

    source_id: str
    source: str
    hypotheses: tuple[dict, ...]  # each: text, axis, kind, level (0 = intact), damage (what was done)


def load_meta_eval(path: Path = META_EVAL_PATH) -> list[MetaItem]:
    items = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            d = json.loads(line)
            items.append(MetaItem(d["source_id"], d["source"], tuple(d["hypotheses"])))
    return items


def parse_scorer(name: str) -> tuple[str, str | None]:
    """("VAL" | "IST" | "IDM" | "perplexity" | "Rouge-L", aspect or None) for a scorer name like IST-fluency."""
    if name in ("VAL", "perplexity", "Rouge-L"):
        return name, None
    scenario, _, aspect = name.partition("-")
    if scenario not in ("IST", "IDM") or not aspect:
        raise InputError(f"Unknown scorer {name!r}: use VAL, perplexity, Rouge-L, or IST-/IDM- and an aspect.")
    return scenario, aspect


@dataclass(frozen=True)
class MetaEvaluation:
    """Rank correlations of each scorer with -damage level, per axis: computed per source over its intact
    text and that axis's damaged ones, then averaged over sources (the paper's sample-level correlation)."""

    scorers: tuple[str, ...]
    axes: tuple[str, ...]
    spearman: dict[str, dict[str, float]]  # scorer -> axis -> mean per-source Spearman rho
    kendall: dict[str, dict[str, float]]  # scorer -> axis -> mean per-source Kendall tau-b
    spearman_ci: dict[str, dict[str, tuple[float, float]]]  # 95 % bootstrap interval over sources
    n_sources: int
    records: list[dict]  # one per hypothesis: source_id, axis, kind, level, damage, and each scorer's score
    model: str
    seconds: float
    pooled_spearman: dict[str, dict[str, float]] = field(default_factory=dict)  # over all sources' texts at once

    def lift(self, aspect: str, axis: str) -> float:
        """Spearman of IST-<aspect> minus VAL's on ``axis``."""
        return self.spearman[f"IST-{aspect}"][axis] - self.spearman["VAL"][axis]

    @property
    def claim_holds(self) -> bool | None:
        """Each instruction lifts correlation on its own axis more than on the other (None: not measured)."""
        if not {"VAL", "IST-fluency", "IST-consistency"} <= set(self.scorers):
            return None
        return bool(self.lift("fluency", "fluency") > self.lift("fluency", "consistency")
                    and self.lift("consistency", "consistency") > self.lift("consistency", "fluency"))

    def to_dict(self) -> dict:
        return {"model": self.model, "n_sources": self.n_sources, "seconds": self.seconds, "scorers": self.scorers,
                "axes": self.axes, "spearman": self.spearman, "kendall": self.kendall,
                "spearman_ci": self.spearman_ci, "pooled_spearman": self.pooled_spearman,
                "claim_holds": self.claim_holds, "records": self.records}


def score_item(lm: LoadedModel, item: MetaItem, scorers: Sequence[str], *, max_tokens: int = 1024,
               batch_size: int | None = None, deadline: Deadline | None = None) -> list[dict]:
    """Every scorer's score of every hypothesis of one source, the model scorers in one batched call."""
    aspects = load_aspects()
    keys, prefixes, targets = [], [], []
    for name in scorers:
        kind, aspect = parse_scorer(name)
        if kind == "Rouge-L":
            continue
        pre = "" if kind == "perplexity" else build_prefix(item.source, scenario=kind, aspect=aspect or "fluency",
                                                           demonstrations=aspects.demonstrations, aspects=aspects)
        for j, h in enumerate(item.hypotheses):
            keys.append((name, j))
            prefixes.append(pre)  # perplexity: an empty prefix, so the text is scored from its first token
            targets.append(h["text"])
    conts = score_continuations(lm, prefixes, targets, max_tokens=max_tokens,
                                batch_size=batch_size, deadline=deadline)
    records = [{"source_id": item.source_id, "axis": h["axis"], "kind": h["kind"], "level": h["level"],
                "damage": h.get("damage", ""), "text": h["text"]} for h in item.hypotheses]
    for (name, j), c in zip(keys, conts):
        records[j][name] = c.mean
    if "Rouge-L" in scorers:
        for r in records:
            r["Rouge-L"] = rouge_l(r["text"], item.source)
    return records


def correlations(records: Sequence[dict], scorers: Sequence[str], axes: Sequence[str] = AXES, *,
                 n_boot: int = 1000, seed: int = 0) -> tuple[dict, dict, dict]:
    """(spearman, kendall, spearman_ci), each scorer -> axis -> value: per source, the correlation of the
    score with -level over the intact text (level 0) and the axis's damaged texts; then the mean over sources."""
    by_source: dict[str, list[dict]] = {}
    for r in records:
        by_source.setdefault(r["source_id"], []).append(r)
    rho: dict = {s: {} for s in scorers}
    tau: dict = {s: {} for s in scorers}
    ci: dict = {s: {} for s in scorers}
    for axis in axes:
        for s in scorers:
            per_rho, per_tau = [], []
            for recs in by_source.values():
                rows = [r for r in recs if r["level"] == 0 or r["axis"] == axis]
                x, y = [r[s] for r in rows], [-r["level"] for r in rows]
                if all(math.isfinite(v) for v in x):
                    per_rho.append(spearman(x, y))
                    per_tau.append(kendall(x, y))
            a, b = np.array(per_rho, dtype=float), np.array(per_tau, dtype=float)
            rho[s][axis] = float(np.nanmean(a)) if np.isfinite(a).any() else float("nan")
            tau[s][axis] = float(np.nanmean(b)) if np.isfinite(b).any() else float("nan")
            ok = a[np.isfinite(a)]
            ci[s][axis] = bootstrap_ci(ok, n_boot=n_boot, seed=seed) if ok.size > 1 else (float("nan"),) * 2
    return rho, tau, ci


def pooled_spearman(records: Sequence[dict], scorers: Sequence[str], axes: Sequence[str] = AXES) -> dict:
    """Scorer -> axis -> Spearman over every source's texts at once (intact and the axis's damaged ones):
    unlike the per-source figure, it also asks whether scores are comparable across sources."""
    out: dict = {s: {} for s in scorers}
    for axis in axes:
        rows = [r for r in records if r["level"] == 0 or r["axis"] == axis]
        for s in scorers:
            ok = [r for r in rows if math.isfinite(r[s])]
            out[s][axis] = spearman([r[s] for r in ok], [-r["level"] for r in ok]) if ok else float("nan")
    return out


def check_scorers(scorers: Sequence[str]) -> tuple[str, ...]:
    scorers = tuple(dict.fromkeys(scorers))
    if not scorers:
        raise InputError("Pick at least one scorer.")
    definitions = load_aspects().definitions
    for s in scorers:
        _, aspect = parse_scorer(s)
        if aspect is not None and aspect not in definitions:
            raise InputError(f"Scorer {s!r} names an unknown aspect; known: {', '.join(definitions)}.")
    return scorers


def meta_evaluate_iter(items: Sequence[MetaItem], scorers: Sequence[str] = DEFAULT_SCORERS,
                       model: str | LoadedModel | None = None, *, max_tokens: int = 1024, batch_size: int | None = None,
                       deadline: Deadline | None = None) -> Iterator[list[dict]]:
    """Score the sources one at a time and yield each one's records (a caller can stop between sources)."""
    scorers = check_scorers(scorers)
    lm = model_of(model)
    dl = deadline or Deadline(None)
    for i, item in enumerate(items):
        dl.check(f"Stopped after {i} of {len(items)} sources: the time budget ran out. Use fewer sources.")
        yield score_item(lm, item, scorers, max_tokens=max_tokens, batch_size=batch_size, deadline=dl)


def summarize(records: Sequence[dict], scorers: Sequence[str], model: str, seconds: float, *,
              n_boot: int = 1000, seed: int = 0) -> MetaEvaluation:
    rho, tau, ci = correlations(records, scorers, n_boot=n_boot, seed=seed)
    return MetaEvaluation(tuple(scorers), AXES, rho, tau, ci, len({r["source_id"] for r in records}), list(records),
                          model, seconds, pooled_spearman(records, scorers))


def meta_evaluate(n_sources: int | None = None, scorers: Sequence[str] = DEFAULT_SCORERS,
                  model: str | LoadedModel | None = None, *, items: Sequence[MetaItem] | None = None,
                  max_tokens: int = 1024, batch_size: int | None = None, time_budget_s: float | None = None,
                  progress: ProgressFn | None = None, n_boot: int = 1000, seed: int = 0) -> MetaEvaluation:
    """Run the built-in meta-evaluation set (or ``items``) on the first ``n_sources`` sources (None: all)."""
    t0 = time.perf_counter()
    items = list(items if items is not None else load_meta_eval())
    if n_sources is not None:
        items = items[:check_count(n_sources, what="Number of sources", low=1, high=max(1, len(items)))]
    scorers = check_scorers(scorers)
    lm = model_of(model)
    records: list[dict] = []
    for i, recs in enumerate(meta_evaluate_iter(items, scorers, lm, max_tokens=max_tokens, batch_size=batch_size,
                                                deadline=Deadline(time_budget_s))):
        records.extend(recs)
        if progress:
            progress((i + 1) / len(items), f"Source {i + 1}/{len(items)}")
    return summarize(records, scorers, lm.name, time.perf_counter() - t0, n_boot=n_boot, seed=seed)
