"""CoT-decoding: chain-of-thought reasoning without prompting (Wang & Zhou 2024).

Prompt a model in plain QA format ("Q: ...\\nA:"), branch on the top-k tokens at one decoding step,
continue every branch greedily, and rank the paths by the model's confidence in its answer:

    Delta_k = mean over answer tokens t of ( p(x_t^1 | x_<t) - p(x_t^2 | x_<t) )

with x_t^1, x_t^2 the two most likely tokens at step t of path k. The max path takes the answer of
the path with the largest Delta; the aggregated answer sums Delta over the paths giving each answer.

The prompt runs once; its KV cache is copied for the k branches, which then decode together as one batch
(:mod:`backends.decoding`), finished paths leaving the batch.
"""
from __future__ import annotations

import json
import math
import re
import string
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from backends import sweeps
from backends.config import InputError, check_count, check_text, limits
from backends.decoding import Deadline, Decoded, Prefill, chat_text, decode, has_chat_template, prefill, step
from backends.models import LoadedModel, registry

PROBLEMS_PATH = Path(__file__).resolve().parent.parent / "assets" / "cot" / "problems.jsonl"
# Where a path ends in the QA format: where the QA turn ends. A base model goes on to invent the
# next question ("\nQ:"); an instruction-tuned one often lists choices after its answer ("\nB: ...",
# "\nC: ..."), whose numbers would otherwise be read as the path's answer. Ending the span at any
# new "X:" line is our departure from the paper, which decodes a fixed number of tokens and reads
# the answer span from the whole path.
STOP_STRINGS = ["\n\n\n"] + [f"\n{letter}:" for letter in string.ascii_uppercase]
EXTENSION = "\nSo the answer is"
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
YES_NO_START = re.compile(r"^(is|are|was|were|do|does|did|can|could|will|would|has|have|had|should)\b", re.I)
REASONING = re.compile(r"[=+×*/]|\b(so|then|because|therefore|first|total|each|left|altogether)\b", re.I)
ProgressFn = Callable[[float, str], None]


@dataclass(frozen=True)
class CotPath:
    """One decoding path: the branching token and its greedy continuation, with its answer and Delta."""

    rank: int  # rank of the branching token among the top-k (0 = the greedy choice)
    first_token: str  # the branching token
    text: str  # the decoded continuation (from the branching token on)
    tokens: list[str]  # each generated token, decoded
    token_gaps: list[float]  # per token: p(top-1) - p(top-2) at its step
    answer: str | None  # normalised answer, None when none was found
    answer_span: tuple[int, int] | None  # token index range [start, end) of the answer on this path
    delta: float  # mean gap over the answer tokens (0 when there is no answer span)
    has_reasoning: bool  # heuristic: intermediate numbers or reasoning words before the answer


@dataclass(frozen=True)
class Exploration:
    question: str
    prompt: str
    model: str
    k: int
    branch_step: int
    answer_type: str  # "number" or "free"
    paths: list[CotPath]
    greedy_answer: str | None
    max_path_answer: str | None
    aggregated_answer: str | None
    votes: dict[str, float]  # answer -> sum of Delta
    seconds: float
    prefix: str = ""  # greedy text before the branching step (branch_step > 0)


@dataclass(frozen=True)
class Problem:
    question: str
    answer: str
    kind: str = "arithmetic"
    meta: dict = field(default_factory=dict)


# ----- small pure pieces -----------------------------------------------------------------------
def confidence_gaps(probs: np.ndarray) -> np.ndarray:
    """p(top-1) - p(top-2) per row of a (steps, vocab) probability matrix."""
    top2 = -np.sort(-np.asarray(probs, dtype=float), axis=-1)[..., :2]
    return top2[..., 0] - top2[..., 1]


def normalise_number(text: str) -> str:
    """"1,200.50" -> "1200.5", "-3" -> "-3": one canonical string per value."""
    value = float(text.replace(",", ""))
    return str(int(value)) if value == int(value) else repr(round(value, 6))


def token_offsets(pieces_text: Sequence[str]) -> list[tuple[int, int]]:
    """Character span of each token, given the cumulative decodes text_1..text_n (text_i = first i tokens)."""
    spans, prev = [], 0
    for t in pieces_text:
        spans.append((prev, len(t)))
        prev = len(t)
    return spans


def span_tokens(spans: Sequence[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    """Token index range [a, b) of the tokens that overlap characters [start, end)."""
    idx = [i for i, (s, e) in enumerate(spans) if s < end and e > start]
    return (idx[0], idx[-1] + 1) if idx else None


def find_number_answer(text: str) -> tuple[str, int, int] | None:
    """The last number in the text: (normalised value, start char, end char), or None."""
    found = list(NUMBER.finditer(text))
    if not found:
        return None
    m = found[-1]
    try:
        return normalise_number(m.group()), m.start(), m.end()
    except ValueError:
        return None


def clean_free_answer(text: str) -> str | None:
    """The first clause of a "So the answer is ..." continuation, lower-cased, without punctuation."""
    first = re.split(r"[.\n,;!?]", text.strip(), maxsplit=1)[0].strip().strip("\"'*: ").lower()
    first = re.sub(r"^(that|:)\s*", "", first)
    return first or None


def aggregate(answers: Sequence[str | None], deltas: Sequence[float]) -> tuple[str | None, dict[str, float]]:
    """The answer with the largest sum of Delta over the paths that give it (ties: first seen)."""
    votes: dict[str, float] = defaultdict(float)
    for a, d in zip(answers, deltas):
        if a is not None:
            votes[a] += d
    if not votes:
        return None, {}
    best = max(votes.items(), key=lambda kv: kv[1])[0]
    return best, dict(votes)


def has_reasoning(text_before_answer: str) -> bool:
    return len(NUMBER.findall(text_before_answer)) >= 2 or bool(REASONING.search(text_before_answer))


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = successes / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


# ----- decoding --------------------------------------------------------------------------------
def model_of(model: str | LoadedModel | None) -> LoadedModel:
    """A LoadedModel as given, else a name (None: the "base" slot) from the registry: entry points resolve
    their model once, here, and pass it down."""
    if isinstance(model, LoadedModel):
        return model
    reg = registry()
    return reg.get(reg.resolve(model, "base"))


def format_prompt(question: str, lm: LoadedModel, chat: bool = False) -> str:
    """The QA-format prompt ("Q: ...\\nA:"), or the question as one user turn of the chat template."""
    if chat:
        if not has_chat_template(lm):
            raise InputError(f"{lm.name} has no chat template; use the QA format.")
        return chat_text(lm, question, chat=True)
    return f"Q: {question}\nA:"


def turn_end(text: str) -> int | None:
    """Where the QA turn ends in a path's text (the first stop string), or None if it does not."""
    stops = [text.find(s) for s in STOP_STRINGS if s in text]
    return min(stops) if stops else None


def stop_rule(lm: LoadedModel) -> Callable[[list[int]], bool]:
    """The decoders' per-row stop rule: true once a row's last 8 tokens contain a stop string. Every stop
    string holds a newline, which comes from one token that holds it, so only tails with such a token (known
    per token id) are decoded: most steps decode nothing."""
    tok = lm.tokenizer
    newline: dict[int, bool] = {}

    def has_newline(token: int) -> bool:
        if token not in newline:
            newline[token] = "\n" in tok.decode([token])
        return newline[token]

    def stop(ids: list[int]) -> bool:
        tail = ids[-8:]
        if not any(has_newline(t) for t in tail):
            return False
        text = tok.decode(tail)
        return any(s in text for s in STOP_STRINGS)

    return stop


def stop_ids(lm: LoadedModel) -> set[int]:
    """Token ids that end a path at once (EOS and padding): :func:`cut` drops them and all after."""
    tok = lm.tokenizer
    return {int(i) for i in (tok.eos_token_id, tok.pad_token_id) if i is not None}


def _turn_end_criteria(lm: LoadedModel, prompt_len: int):
    """generate() stops each row where its QA turn ends: our :func:`stop_rule` on its new tokens. (generate's
    ``stop_strings`` first maps 27 strings against the whole vocabulary: tens of seconds per call.)"""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    stop = stop_rule(lm)

    class TurnEnd(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            done = [stop(row[prompt_len:].tolist()) for row in input_ids]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([TurnEnd()])


def cut(lm: LoadedModel, ids: list[int]) -> list[int]:
    """Drop EOS/padding and everything from a stop string on."""
    tok = lm.tokenizer
    specials = {tok.eos_token_id, tok.pad_token_id}
    for i, t in enumerate(ids):
        if t in specials:
            ids = ids[:i]
            break
    stop = turn_end(tok.decode(ids))
    if stop is None:
        return ids
    keep = 0
    for n in range(1, len(ids) + 1):  # the longest prefix that ends before the stop string
        if len(tok.decode(ids[:n])) > stop:
            break
        keep = n
    return ids[:keep]


def continue_greedily(lm: LoadedModel, start: Sequence[Sequence[int]] | Prefill, max_new_tokens: int,
                      deadline: Deadline | None = None) -> Decoded:
    """Greedy continuations (one batch, KV cache) that stop where the QA turn ends or at EOS."""
    return decode(lm, start, max_new_tokens, stop=stop_rule(lm), stop_ids=stop_ids(lm), deadline=deadline)


@dataclass
class Branching:
    """The k rows to continue: the prompt (and the greedy prefix up to the branching step) run once into
    a KV cache, and the top-k tokens of the next distribution."""

    prompt_ids: list[int]  # the prompt's ids, then the greedy prefix
    prefix: list[int]  # the greedy prefix (branch_step > 0), cut at a stop string
    branch_ids: list[int]  # (k,) the top-k next tokens, most likely first
    first_gap: float  # p(top-1) - p(top-2) at the branching step
    state: Prefill  # after prompt_ids (one row)


def branch(lm: LoadedModel, prompt: str, k: int, branch_step: int = 0,
           deadline: Deadline | None = None) -> Branching:
    """Run the prompt (and ``branch_step`` greedy tokens) once and take the top-k next tokens."""
    import torch

    ids = list(lm.tokenizer(prompt)["input_ids"])
    prefix: list[int] = []
    if branch_step > 0:
        prefix = cut(lm, continue_greedily(lm, [ids], branch_step, deadline).ids[0])
        if len(prefix) < branch_step:
            raise InputError(f"The greedy path ends after {len(prefix)} tokens, before branching step {branch_step}. "
                             "Choose an earlier step.")
        ids = ids + prefix
    state = prefill(lm, [ids])
    top = torch.softmax(state.logits[0], -1).topk(max(k, 2))
    return Branching(ids, prefix, top.indices[:k].tolist(), float(top.values[0] - top.values[1]), state)


def continue_branches(lm: LoadedModel, b: Branching, max_new_tokens: int, *, deadline: Deadline | None = None,
                      one_row_at_a_time: bool = False) -> Decoded:
    """Each branch token continued greedily for ``max_new_tokens`` more tokens (ids and gaps after it): the
    k rows as one batch sharing the prompt's cache, or (``one_row_at_a_time``, for the benchmark) row by row."""
    import torch

    k = len(b.branch_ids)
    groups = [[r] for r in range(k)] if one_row_at_a_time else [list(range(k))]
    parts = []
    for rows in groups:
        state = b.state.fork(repeat=len(rows))
        step(lm, state, torch.tensor([b.branch_ids[r] for r in rows], dtype=torch.long))
        parts.append(continue_greedily(lm, state, max_new_tokens, deadline))
    return Decoded([i for p in parts for i in p.ids], [g for p in parts for g in p.gaps],
                   [lp for p in parts for lp in p.logprobs], [f for p in parts for f in p.finished],
                   sum(p.seconds for p in parts))


def _check_question(question: str, k: int, max_new_tokens: int, branch_step: int,
                    answer_type: str) -> tuple[str, int, int, int, str]:
    question = check_text(question, what="Question", lim=None)
    if len(question) > 2000:
        raise InputError(f"The question is {len(question):,} characters; keep it under 2,000.")
    k = check_count(k, what="k (branches)", low=1, high=20)
    max_new_tokens = check_count(max_new_tokens, what="Token limit", low=4, high=limits().max_new_tokens)
    branch_step = check_count(branch_step, what="Branching step", low=0, high=max_new_tokens - 1)
    if answer_type not in ("auto", "number", "free"):
        raise InputError("answer_type must be auto, number or free.")
    if answer_type == "auto":
        answer_type = "free" if YES_NO_START.match(question) else "number"
    return question, k, max_new_tokens, branch_step, answer_type


def explore(question: str, model: str | LoadedModel | None = None, *, k: int = 10, max_new_tokens: int = 128,
            branch_step: int = 0, answer_type: str = "auto", chat: bool = False,
            time_budget_s: float | None = None) -> Exploration:
    """Branch on the top-k tokens at ``branch_step``, decode every branch greedily, rank by Delta.

    ``model``: a name, a loaded model, or None (the "base" slot). ``time_budget_s``: None runs to the end.
    """
    checked = _check_question(question, k, max_new_tokens, branch_step, answer_type)
    return _explore(model_of(model), *checked, chat=chat, deadline=Deadline(time_budget_s))


def _explore(lm: LoadedModel, question: str, k: int, max_new_tokens: int, branch_step: int, answer_type: str, *,
             chat: bool, deadline: Deadline) -> Exploration:
    t0 = time.perf_counter()
    prompt = format_prompt(question, lm, chat)
    b = branch(lm, prompt, k, branch_step, deadline)
    out = continue_branches(lm, b, max_new_tokens - branch_step - 1, deadline=deadline)
    paths = []
    for r, first in enumerate(b.branch_ids):
        ids = cut(lm, [first] + out.ids[r])
        gaps = ([b.first_gap] + out.gaps[r])[: len(ids)]
        paths.append(_make_path(lm, r, first, prompt, b.prefix, ids, gaps, answer_type, deadline))
    best = max(paths, key=lambda p: p.delta)
    aggregated, votes = aggregate([p.answer for p in paths], [p.delta for p in paths])
    return Exploration(question, prompt, lm.name, k, branch_step, answer_type, paths, paths[0].answer, best.answer,
                       aggregated, votes, time.perf_counter() - t0, lm.tokenizer.decode(b.prefix))


def _make_path(lm: LoadedModel, rank: int, first_id: int, prompt: str, prefix: list[int], ids: list[int],
               gaps: list[float], answer_type: str, deadline: Deadline) -> CotPath:
    """One path: ids are the branching token and its greedy continuation, cut at a stop string."""
    tok = lm.tokenizer
    cumulative = [tok.decode(ids[: i + 1]) for i in range(len(ids))]
    text = cumulative[-1] if cumulative else ""
    spans = token_offsets(cumulative)
    tokens = [text[s:e] for s, e in spans]
    answer, span = None, None
    if answer_type == "number":
        found = find_number_answer(text)
        if found:
            answer, start, end = found
            span = span_tokens(spans, start, end)
    else:
        answer = _extend_for_answer(lm, prompt + tok.decode(prefix) + text, deadline)
        if answer:
            at = text.lower().rfind(answer)
            # Confidence is computed on the original path's tokens (never on the extension): where the
            # answer is not on the path, the path has no answer span and Delta is 0.
            span = span_tokens(spans, at, at + len(answer)) if at >= 0 else None
    delta = float(np.mean(gaps[span[0]:span[1]])) if span else 0.0
    before = text[: spans[span[0]][0]] if span else text
    return CotPath(rank, tok.decode([first_id]), text, tokens, gaps, answer, span, delta, has_reasoning(before))


def _extend_for_answer(lm: LoadedModel, full_text: str, deadline: Deadline | None = None,
                       max_tokens: int = 8) -> str | None:
    """The answer after "So the answer is" appended to a path (free-form questions)."""
    new = continue_greedily(lm, [lm.tokenizer(full_text + EXTENSION)["input_ids"]], max_tokens, deadline).ids[0]
    return clean_free_answer(lm.tokenizer.decode(cut(lm, new), skip_special_tokens=True))


def decode_sequentially(question: str, model: str | LoadedModel | None = None, *, k: int = 10,
                        max_new_tokens: int = 128, branch_step: int = 0) -> list[list[int]]:
    """The k branches decoded one after another with transformers' own greedy ``generate()`` (how common
    implementations do it): token ids per path, cut like :func:`explore`'s.

    Same prompt, branch tokens and stop rule as :func:`explore`; used by the tests (batched == sequential)
    and the benchmark (the speed-up of batching).
    """
    import torch

    lm = model_of(model)
    b = branch(lm, format_prompt(question, lm), k, branch_step)
    out = []
    for first in b.branch_ids:
        row = torch.tensor([b.prompt_ids + [first]], dtype=torch.long, device=lm.device)
        with torch.inference_mode():
            gen = lm.model.generate(row, attention_mask=torch.ones_like(row), do_sample=False, temperature=None,
                                    top_p=None, top_k=None, max_new_tokens=max_new_tokens - branch_step - 1,
                                    pad_token_id=lm.tokenizer.pad_token_id,
                                    stopping_criteria=_turn_end_criteria(lm, row.shape[1]))
        out.append(cut(lm, [first] + gen[0, row.shape[1]:].tolist()))
    return out


# ----- self-consistency baseline and evaluation ------------------------------------------------------
def self_consistency(question: str, model: str | LoadedModel | None = None, *, n: int = 10,
                     max_new_tokens: int = 128, temperature: float = 0.7, seed: int = 0, answer_type: str = "number",
                     time_budget_s: float | None = None) -> tuple[str | None, list]:
    """Sample n paths in the same QA format and take the majority answer (Wang et al. 2023).

    The n samples decode as one batch from one run of the prompt, drawing from a generator seeded with
    ``seed`` (a seed reproduces a run; the global torch seed is left alone).
    """
    return _self_consistency(model_of(model), question, n, max_new_tokens, temperature, seed, answer_type,
                             Deadline(time_budget_s))


def _self_consistency(lm: LoadedModel, question: str, n: int, max_new_tokens: int, temperature: float, seed: int,
                      answer_type: str, deadline: Deadline) -> tuple[str | None, list]:
    import torch

    prompt = format_prompt(question, lm)
    start = prefill(lm, [lm.tokenizer(prompt)["input_ids"]]).fork(repeat=n)
    out = decode(lm, start, max_new_tokens, sample=True, temperature=temperature, top_p=1.0,
                 generator=torch.Generator().manual_seed(int(seed)), stop=stop_rule(lm), stop_ids=stop_ids(lm),
                 deadline=deadline)
    answers = []
    for ids in out.ids:
        text = lm.tokenizer.decode(cut(lm, ids))
        if answer_type == "number":
            found = find_number_answer(text)
            answers.append(found[0] if found else None)
        else:
            answers.append(_extend_for_answer(lm, prompt + text, deadline))
    counts = Counter(a for a in answers if a is not None)
    return (counts.most_common(1)[0][0] if counts else None), answers


def is_correct(pred: str | None, gold: str) -> bool:
    """Numbers compare by value; a free-form gold answer ("odd", "yes") must appear as a word of the prediction."""
    if pred is None:
        return False
    try:
        return normalise_number(pred) == normalise_number(gold)
    except ValueError:
        return gold.strip().lower() in re.findall(r"[a-z]+", pred.lower())


def load_problems(path: Path = PROBLEMS_PATH) -> list[Problem]:
    problems = []
    for line in path.read_text().splitlines():
        if line.strip():
            d = json.loads(line)
            problems.append(Problem(d["question"], d["answer"], d.get("kind", "arithmetic"),
                                    {k: v for k, v in d.items() if k not in ("question", "answer", "kind")}))
    return problems


@dataclass(frozen=True)
class Evaluation:
    n: int
    accuracy: dict[str, float]  # method -> accuracy ("greedy", "max path", "aggregated", "self-consistency")
    interval: dict[str, tuple[float, float]]  # 95 % Wilson interval per method
    delta_correct: float  # mean Delta of paths whose answer is correct
    delta_wrong: float  # ... and of paths with a wrong answer (or none)
    records: list[dict]  # per problem
    seconds: float
    stopped: str = ""  # "" or why the run ended early ("stopped", "time cap"): the figures cover ``n`` problems
    sweep: dict = field(default_factory=dict)  # how it ran: backend, workers, failed items (SweepResult.summary())


METHODS = ("greedy", "max path", "aggregated", "self-consistency")


def problem_item(pb: Problem) -> dict:
    """A problem as a sweep item (what a worker needs to evaluate it)."""
    return {"question": pb.question, "answer": pb.answer, "kind": pb.kind}


def sweep_options(model: str | LoadedModel | None = None, *, k: int = 10, max_new_tokens: int = 96,
                  sc_samples: int = 10) -> dict:
    """The evaluation's settings as sweep options (validated; the model by registry name)."""
    name = model.name if isinstance(model, LoadedModel) else registry().resolve(model, "base")
    return {"model": name, "k": check_count(k, what="k (branches)", low=1, high=20),
            "max_new_tokens": check_count(max_new_tokens, what="Token limit", low=4, high=limits().max_new_tokens),
            "sc_samples": check_count(sc_samples, what="Self-consistency samples", low=0, high=100)}


def evaluate_problem(lm: LoadedModel, item: dict, *, k: int, max_new_tokens: int, sc_samples: int, seed: int,
                     deadline: Deadline | None = None) -> dict:
    """One problem's record: each method's answer and whether it is right, and every path's Delta.

    ``seed`` seeds the self-consistency samples (a sweep gives each problem its own, see sweeps.item_seed)."""
    deadline = deadline or Deadline(None)
    kind = "free" if item.get("kind") == "free" else "number"
    ex = _explore(lm, *_check_question(item["question"], k, max_new_tokens, 0, kind), chat=False, deadline=deadline)
    sc = (_self_consistency(lm, item["question"], sc_samples, max_new_tokens, 0.7, seed, kind, deadline)[0]
          if sc_samples > 0 else None)
    preds = {"greedy": ex.greedy_answer, "max path": ex.max_path_answer, "aggregated": ex.aggregated_answer,
             "self-consistency": sc}
    return {"question": item["question"], "gold": item["answer"], "kind": item.get("kind", "arithmetic"), **preds,
            **{f"{m} correct": is_correct(preds[m], item["answer"]) for m in METHODS},
            "path_deltas": [[round(float(p.delta), 6), is_correct(p.answer, item["answer"])] for p in ex.paths]}


def _sweep_setup(options: dict) -> dict:
    return {"lm": model_of(options["model"]), **{k: v for k, v in options.items() if k != "model"}}


def _sweep_run(state: dict, items: list[dict], seeds: list[int]) -> list[dict]:
    return [evaluate_problem(state["lm"], it, k=state["k"], max_new_tokens=state["max_new_tokens"],
                             sc_samples=state["sc_samples"], seed=s) for it, s in zip(items, seeds)]


SWEEP = sweeps.Kind("cot", _sweep_setup, _sweep_run, models=lambda o: [o["model"]], version="1",
                    defaults=sweep_options, builder="backends.cot_decoding.sweep_options(model, k=...)")


def from_sweep(res: "sweeps.SweepResult") -> Evaluation:
    """The evaluation of the problems a sweep finished (failed or unreached problems are left out, and counted in
    ``sweep``)."""
    records = [r for r in res.results if r is not None]
    d_ok = [d for r in records for d, ok in r["path_deltas"] if ok]
    d_bad = [d for r in records for d, ok in r["path_deltas"] if not ok]
    n = len(records)
    acc = {m: sum(r[f"{m} correct"] for r in records) / n if n else float("nan") for m in METHODS}
    ci = {m: wilson(sum(r[f"{m} correct"] for r in records), n) for m in METHODS}
    return Evaluation(n, acc, ci, float(np.mean(d_ok)) if d_ok else float("nan"),
                      float(np.mean(d_bad)) if d_bad else float("nan"),
                      [{k: v for k, v in r.items() if k != "path_deltas"} for r in records], res.seconds,
                      res.stopped, res.summary())


def evaluate(problems: Sequence[Problem], model: str | LoadedModel | None = None, *, k: int = 10,
             max_new_tokens: int = 96, sc_samples: int = 10, seed: int = 0, progress: ProgressFn | None = None,
             time_budget_s: float | None = None, backend: str = "local", workers: int = 1,
             resume: bool = False) -> Evaluation:
    """Accuracy of greedy, max path, aggregated and self-consistency answers on problems with known answers.

    Runs as the "cot" sweep (:mod:`backends.sweeps`): ``backend="ray"`` with ``workers`` spreads the problems
    over Ray workers, with the same results. Each problem's self-consistency samples are seeded from ``seed``
    and the problem. ``time_budget_s``: None runs every problem; with a budget, the run stops between
    problems once it is spent and the figures cover the problems done (``stopped`` says so).
    """
    options = sweep_options(model, k=k, max_new_tokens=max_new_tokens, sc_samples=sc_samples)
    local = _sweep_setup({**options, "model": model}) if isinstance(model, LoadedModel) else None
    res = sweeps.run_sweep("cot", [problem_item(p) for p in problems], options, backend=backend, workers=workers,
                           seed=seed, resume=resume, time_budget_s=time_budget_s, progress=progress,
                           local_state=local)
    return from_sweep(res)
