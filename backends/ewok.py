"""EWoK, Elements of World Knowledge (Ivanova et al. 2024): minimal pairs that test whether a model uses a
concept (left/right, help/hinder, floats/sinks ...) in context.

An item is two contexts C1, C2 and two targets T1, T2, where C1 fits T1 and C2 fits T2. Comparing one target
across the two contexts cancels its prior plausibility and word frequency. The paper's LogProbs rule scores
log P(T | C) summed over the target's tokens only (:func:`backends.lm.score_continuations`, 4 pairs per item,
every item batched):

    item score = 1    if score(T1|C1) > score(T1|C2) and score(T2|C2) > score(T2|C1)
                 0.5  if exactly one of the two holds
                 0    if neither (ties count as failures); chance is 0.5.

The CHOICE variant shows C1, C2 and one target in a prompt that asks which context fits, and compares the
log-probabilities of the two option labels (" 1", " 2"); the same rule turns its two answers into a score.

EWoK-core is gated and not shipped; ``scripts/build_ewok_items.py`` fills the typed templates of
``assets/ewok/templates.json`` into ``assets/ewok/items.jsonl`` with :func:`build_items` (seeded).
"""
from __future__ import annotations

import json
import random
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from backends.config import InputError, check_count, check_text, limits
from backends.decoding import Deadline, TimeBudgetError
from backends.lm import Continuation, score_continuations
from backends.metrics import bootstrap_ci
from backends.models import LoadedModel, loaded

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "ewok"
TEMPLATES_PATH = ASSETS / "templates.json"
ITEMS_PATH = ASSETS / "items.jsonl"
ProgressFn = Callable[[float, str], None]

# The paper's 11 domains, in its order.
DOMAINS = ("social interactions", "social properties", "social relations", "agent properties", "material dynamics",
           "material properties", "physical dynamics", "physical interactions", "physical relations",
           "quantitative properties", "spatial relations")
METRICS = ("logprobs", "choice")
CHANCE = 0.5
# Figures of the paper (EWoK-core-1.0, 20 open models of 1.3B-70B) to set the small models' numbers beside.
PAPER = {
    "humans": 0.95,  # 1,262 participants, same prompts
    "falcon-40b-instruct": 0.80,  # the best model, LogProbs
    "easiest": ("social interactions", "social properties"),
    "hardest": ("physical relations", "spatial relations"),
}
MAX_FIELD_CHARS = 1000  # one context or target typed by the user
CHOICE_LABELS = (" 1", " 2")


@dataclass(frozen=True)
class Item:
    """One minimal pair of pairs: C1 fits T1, C2 fits T2."""

    id: str
    domain: str
    concept: str
    context1: str
    context2: str
    target1: str
    target2: str
    template: str = ""
    contrast: str = ""  # how the contexts differ: concept swap, variable swap or filler swap
    version: int = 0  # which filler version of its template


@dataclass(frozen=True)
class ItemResult:
    """One item's four scores and its item score. For LogProbs ``t1c1`` is log P(T1 | C1) in nats; for CHOICE
    it is log P(" 1" | prompt with T1), ``t1c2`` log P(" 2" | prompt with T1), and so on."""

    id: str
    domain: str
    concept: str
    metric: str
    t1c1: float
    t1c2: float
    t2c1: float
    t2c2: float
    score: float  # 1, 0.5 or 0


@dataclass(frozen=True)
class Evaluation:
    """Accuracy (mean item score) of one model with one metric, overall and per domain, with 95 % bootstrap
    intervals over items."""

    model: str
    metric: str
    n: int  # items scored
    n_requested: int  # items asked for (more than n when the time budget ran out)
    accuracy: float
    interval: tuple[float, float]
    accuracy_by_domain: dict[str, float]
    interval_by_domain: dict[str, tuple[float, float]]
    n_by_domain: dict[str, int]
    results: tuple[ItemResult, ...]
    seconds: float

    @property
    def complete(self) -> bool:
        return self.n == self.n_requested

    @property
    def seconds_per_item(self) -> float:
        return self.seconds / self.n if self.n else float("nan")

    @property
    def records(self) -> list[dict]:
        return [{"model": self.model, **asdict(r)} for r in self.results]


@dataclass(frozen=True)
class Scored:
    """One continuation for display: log P(target | context) and its per-token terms."""

    label: str  # "T1|C1" ...
    tokens: list[str]
    logprobs: list[float]  # nats, one per target token
    total: float


@dataclass(frozen=True)
class PairResult:
    """A user's own pair under one model: the four LogProbs scores and the CHOICE answers."""

    model: str
    item: Item
    scored: tuple[Scored, ...]  # T1|C1, T1|C2, T2|C1, T2|C2
    logprobs: ItemResult
    choice: ItemResult
    seconds: float


# ----- the rule ------------------------------------------------------------------------------------


def item_score(t1c1: float, t1c2: float, t2c1: float, t2c2: float) -> float:
    """The paper's item score: 1 if T1 prefers C1 and T2 prefers C2, 0.5 if one of them does, 0 if neither.

    Strict comparisons: a tie is a failure, so a model that cannot tell the contexts apart scores 0, and
    chance (random scores) is 0.5.
    """
    return ((t1c1 > t1c2) + (t2c2 > t2c1)) / 2


def by_domain(results: Sequence[ItemResult], *, n_boot: int = 1000, seed: int = 0
              ) -> tuple[dict[str, float], dict[str, tuple[float, float]], dict[str, int]]:
    """Mean item score, its bootstrap interval and the item count per domain (paper order, then others)."""
    groups: dict[str, list[float]] = {}
    for r in results:
        groups.setdefault(r.domain, []).append(r.score)
    order = [d for d in DOMAINS if d in groups] + sorted(set(groups) - set(DOMAINS))
    acc = {d: float(np.mean(groups[d])) for d in order}
    ci = {d: bootstrap_ci(groups[d], n_boot=n_boot, seed=seed) for d in order}
    return acc, ci, {d: len(groups[d]) for d in order}


def choice_prompt(context1: str, context2: str, target: str) -> str:
    """The CHOICE prompt: both contexts, one statement, and a request for the number of the fitting context."""
    return (f"Which context makes the statement more plausible?\nContext 1: {context1}\nContext 2: {context2}\n"
            f"Statement: {target}\nAnswer with 1 or 2.\nAnswer:")


def _queries(item: Item, metric: str) -> list[tuple[str, str]]:
    """The four (prefix, target) pairs of an item, in the order t1c1, t1c2, t2c1, t2c2."""
    if metric == "logprobs":
        # The separator belongs to the target, so a target's tokens are the same after either context.
        return [(item.context1, " " + item.target1), (item.context2, " " + item.target1),
                (item.context1, " " + item.target2), (item.context2, " " + item.target2)]
    if metric == "choice":
        p1, p2 = (choice_prompt(item.context1, item.context2, t) for t in (item.target1, item.target2))
        return [(p1, CHOICE_LABELS[0]), (p1, CHOICE_LABELS[1]), (p2, CHOICE_LABELS[0]), (p2, CHOICE_LABELS[1])]
    raise InputError(f"Unknown metric {metric!r}: choose one of {', '.join(METRICS)}.")


def _result(item: Item, metric: str, conts: Sequence[Continuation]) -> ItemResult:
    t = [c.total for c in conts]
    return ItemResult(item.id, item.domain, item.concept, metric, *t, item_score(*t))


# ----- evaluation ----------------------------------------------------------------------------------


def model_of(model: str | LoadedModel | None) -> LoadedModel:
    """A LoadedModel as given, else a name, else the profile's "chat" slot: on the cpu profile the 1.5B, whose
    accuracy (0.70 on 12 items per domain) and domain order show the paper's effect; the 0.5B is near chance."""
    return loaded(model, "chat")


def score_items(lm: LoadedModel, items: Sequence[Item], metric: str = "logprobs", *, batch_size: int | None = None,
                deadline: Deadline | None = None) -> list[ItemResult]:
    """Score items with one batched :func:`score_continuations` call (4 continuations per item, for either
    metric). ``batch_size`` None: 16 per pass, one on int8 models (:func:`backends.lm.scoring_batch_size`:
    their per-call activation scale would make an item's score depend on its batch-mates)."""
    queries = [q for it in items for q in _queries(it, metric)]
    conts = score_continuations(lm, [q[0] for q in queries], [q[1] for q in queries],
                                max_tokens=limits().max_tokens, batch_size=batch_size, deadline=deadline)
    return [_result(it, metric, conts[4 * i: 4 * i + 4]) for i, it in enumerate(items)]


def evaluate_ewok(items: Sequence[Item], model: str | LoadedModel | None = None, *, metric: str = "logprobs",
                  time_budget_s: float | None = None, progress: ProgressFn | None = None, chunk: int = 16,
                  batch_size: int | None = None, n_boot: int = 1000, seed: int = 0) -> Evaluation:
    """Accuracy of a model on items with the LogProbs (default) or CHOICE metric.

    Items run in chunks of ``chunk`` (4 continuations each, batched). ``time_budget_s``: None runs every
    item; with a budget the run stops between chunks once it is spent and reports the items it scored
    (``Evaluation.complete`` is then False).
    """
    if metric not in METRICS:
        raise InputError(f"Unknown metric {metric!r}: choose one of {', '.join(METRICS)}.")
    items = list(items)
    if not items:
        raise InputError("No items to evaluate: pick at least one domain and one item per domain.")
    t0 = time.perf_counter()
    lm = model_of(model)
    deadline = Deadline(time_budget_s)
    results: list[ItemResult] = []
    for start in range(0, len(items), max(1, chunk)):
        if deadline.expired:
            break
        try:
            results += score_items(lm, items[start:start + chunk], metric, batch_size=batch_size, deadline=deadline)
        except TimeBudgetError:
            break
        if progress:
            progress(len(results) / len(items), f"{lm.name} ({metric}): {len(results)}/{len(items)} items")
    return summarise(lm.name, metric, results, len(items), time.perf_counter() - t0, n_boot=n_boot, seed=seed)


def summarise(model: str, metric: str, results: Sequence[ItemResult], n_requested: int, seconds: float, *,
              n_boot: int = 1000, seed: int = 0) -> Evaluation:
    """An :class:`Evaluation` from item results: the mean item score overall and per domain, with intervals."""
    scores = [r.score for r in results]
    acc = float(np.mean(scores)) if scores else float("nan")
    dom, dom_ci, dom_n = by_domain(results, n_boot=n_boot, seed=seed)
    return Evaluation(model, metric, len(results), n_requested, acc, bootstrap_ci(scores, n_boot=n_boot, seed=seed),
                      dom, dom_ci, dom_n, tuple(results), seconds)


# ----- one pair typed by the user ------------------------------------------------------------------


def check_pair(context1: str, context2: str, target1: str, target2: str) -> Item:
    """Validate a user's pair: four non-empty texts of at most MAX_FIELD_CHARS, distinct contexts and targets."""
    cap = min(MAX_FIELD_CHARS, limits().max_text_chars)
    lim = limits()
    fields = {}
    for what, text in (("Context 1", context1), ("Context 2", context2), ("Target 1", target1),
                       ("Target 2", target2)):
        fields[what] = check_text(text, what=what, lim=lim)
        if len(fields[what]) > cap:
            raise InputError(f"{what} is {len(fields[what]):,} characters long; the limit here is {cap:,}. "
                             "EWoK contexts are a sentence or two, targets one sentence.")
    if fields["Context 1"] == fields["Context 2"]:
        raise InputError("Context 1 and Context 2 are identical: a minimal pair needs two contexts that differ "
                         "(say, 'turns left' and 'turns right').")
    if fields["Target 1"] == fields["Target 2"]:
        raise InputError("Target 1 and Target 2 are identical: a minimal pair needs two targets that differ.")
    return Item("custom", "custom", "custom", fields["Context 1"], fields["Context 2"], fields["Target 1"],
                fields["Target 2"])


def score_pair(context1: str, context2: str, target1: str, target2: str, model: str | LoadedModel | None = None, *,
               time_budget_s: float | None = None) -> PairResult:
    """The four log P(T | C), their per-token terms and the item score (LogProbs and CHOICE) of one pair."""
    item = check_pair(context1, context2, target1, target2)
    t0 = time.perf_counter()
    lm = model_of(model)
    deadline = Deadline(time_budget_s)
    queries = _queries(item, "logprobs") + _queries(item, "choice")
    conts = score_continuations(lm, [q[0] for q in queries], [q[1] for q in queries],
                                max_tokens=limits().max_tokens, deadline=deadline,
                                too_long=f"The texts are too long for the model's {limits().max_tokens}-token window: "
                                         "shorten them.")
    labels = ("T1|C1", "T1|C2", "T2|C1", "T2|C2")
    scored = tuple(Scored(lab, list(c.tokens), [float(x) for x in c.logprobs], c.total)
                   for lab, c in zip(labels, conts[:4]))
    return PairResult(lm.name, item, scored, _result(item, "logprobs", conts[:4]), _result(item, "choice", conts[4:]),
                      time.perf_counter() - t0)


# ----- the item set --------------------------------------------------------------------------------


def load_items(path: Path | str = ITEMS_PATH) -> list[Item]:
    """The built-in items (``assets/ewok/items.jsonl``), in file order."""
    with open(path, encoding="utf-8") as f:
        return [Item(**{k: v for k, v in json.loads(line).items() if k != "fillers"}) for line in f if line.strip()]


def sample_items(items: Sequence[Item], *, domains: Sequence[str] | None = None, per_domain: int | None = None,
                 seed: int = 0) -> list[Item]:
    """A seeded sample of ``per_domain`` items from each chosen domain (all of them for None), in domain order."""
    if domains is not None and (isinstance(domains, str) or not isinstance(domains, (list, tuple))):
        raise InputError("Domains must be a list of domain names.")
    chosen = list(domains) if domains is not None else [d for d in DOMAINS if any(it.domain == d for it in items)]
    unknown = [str(d)[:40] for d in chosen if not isinstance(d, str) or not any(it.domain == d for it in items)]
    if unknown:
        raise InputError(f"Unknown domain(s) {', '.join(map(repr, unknown))}: choose from {', '.join(DOMAINS)}.")
    if per_domain is not None:
        per_domain = check_count(per_domain, what="Items per domain", low=1, high=len(items) or 1)
    rng = random.Random(check_count(seed, what="Seed", low=0, high=2**32 - 1))
    out: list[Item] = []
    for d in chosen:
        pool = [it for it in items if it.domain == d]
        out += pool if per_domain is None or per_domain >= len(pool) else rng.sample(pool, per_domain)
    return out


_SLOT = re.compile(r"\{(\w+)(?:\.(\w+))?\}")


def _word(filler: str | dict) -> str:
    return filler if isinstance(filler, str) else filler["word"]


def _matches(filler: str | dict, restriction: str) -> bool:
    """'tag' keeps fillers with that tag, '!tag' those without it (string fillers have no tags)."""
    tags = set() if isinstance(filler, str) else set(filler.get("tags", []))
    for r in filter(None, restriction.split(",")):
        if (r[1:] in tags) if r.startswith("!") else (r not in tags):
            return False
    return True


def candidates(fillers: dict, typed: str) -> list:
    """The fillers a typed variable accepts: ``class`` or ``class:tag[,!tag]``."""
    cls, _, restriction = typed.partition(":")
    if cls not in fillers:
        raise ValueError(f"unknown filler class {cls!r}")
    pool = [f for f in fillers[cls] if _matches(f, restriction)]
    if not pool:
        raise ValueError(f"no filler of {typed!r}")
    return pool


def fill(text: str, binding: dict) -> str:
    """Put fillers into a template text: {x} the word, {x.a} with its article, {x.field} a field of the filler."""
    def one(m: re.Match) -> str:
        f = binding[m.group(1)]
        if m.group(2) is None:
            return _word(f)
        if m.group(2) == "a":
            w = _word(f)
            return ("an " if w[0].lower() in "aeiou" else "a ") + w
        return str(f[m.group(2)])

    out = _SLOT.sub(one, text)
    return out[0].upper() + out[1:]


def build_items(spec: dict, *, seed: int = 0, versions: int = 8) -> list[Item]:
    """Fill every template of ``spec`` (templates.json) with ``versions`` distinct filler choices, seeded.

    Variables of one template never share a filler; each version differs from the template's others.
    """
    rng = random.Random(seed)
    items = []
    for t in spec["templates"]:
        pools = {v: candidates(spec["fillers"], typed) for v, typed in t["vars"].items()}
        seen: set[tuple] = set()
        for version in range(versions):
            for _ in range(200):
                binding = {}
                for v, pool in pools.items():
                    binding[v] = rng.choice([f for f in pool if _word(f) not in {_word(b) for b in binding.values()}])
                key = tuple(_word(binding[v]) for v in pools)
                if key not in seen:
                    break
            seen.add(key)
            texts = [fill(t[k], binding) for k in ("context1", "context2", "target1", "target2")]
            items.append(Item(f"{t['id']}-v{version}", t["domain"], t["concept"], *texts, template=t["id"],
                              contrast=t.get("contrast", ""), version=version))
    return items


def check_items(items: Sequence[Item]) -> list[str]:
    """Problems of an item set (empty when fine): unfilled slots, identical contexts or targets, unknown domains,
    duplicate ids."""
    problems, ids = [], set()
    for it in items:
        texts = (it.context1, it.context2, it.target1, it.target2)
        if any("{" in x or "}" in x or not x.strip() for x in texts):
            problems.append(f"{it.id}: empty or unfilled text")
        if it.context1 == it.context2 or it.target1 == it.target2:
            problems.append(f"{it.id}: identical contexts or targets")
        if it.domain not in DOMAINS:
            problems.append(f"{it.id}: unknown domain {it.domain!r}")
        if it.id in ids:
            problems.append(f"{it.id}: duplicate id")
        ids.add(it.id)
    return problems
