"""Self-Discover: a model composes a reasoning structure for a task, then fills it in per instance
(Zhou et al. 2024).

Stage 1 runs once per task, three visible LM calls on a few unlabelled examples t_i of the task:

    SELECT     D_S = M(p_S || D || t_i)            pick the useful modules of the 39 in D
    ADAPT      D_A = M(p_A || D_S || t_i)          rephrase each chosen module for this task
    IMPLEMENT  D_I = M(p_I || S_human || D_A || t_i)  a step-by-step plan as key-value JSON

Stage 2 runs once per instance: A = M(D_I || t), the plan's values filled in by reasoning about the
instance, then the answer. The structure belongs to the task, so stage 1 is paid once and shared by all
of its instances: with n instances Self-Discover costs 1 + 3/n calls per instance, against k for
self-consistency over k chain-of-thought samples.

Every LM call is recorded (:class:`Call`: its stage, the user prompt verbatim, the replies) and counted; a
call that samples k replies counts k. Generation goes through :mod:`backends.decoding` (chat template,
batched KV-cache decoding, seeded sampling). ``model`` is a registry name or slot, a loaded model, or any
object with ``name`` and ``complete(prompt, *, max_new_tokens, n, sample, temperature, seed, deadline)``
(the unit tests' scripted fake); None is the "chat" slot.
"""
from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

from backends.config import InputError, check_count, check_text
from backends.cot_decoding import NUMBER, Problem, find_number_answer, load_problems, normalise_number, wilson
from backends.decoding import Deadline, TimeBudgetError

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "self_discover"
ProgressFn = Callable[[float, str], None]

# Token limits per call: the stage-1 replies are short lists or one JSON object; the solving calls
# need room for the filled structure or the chain of thought.
MAX_TOKENS = {"select": 160, "adapt": 320, "implement": 400, "solve": 320, "direct": 24, "cot": 256}
SC_TEMPERATURE = 0.7  # sampling temperature of the self-consistency chains (Wang et al. 2023 use 0.5-0.7)
MAX_EXAMPLES = 5  # unlabelled task examples shown in stage 1

# ----- the meta-prompts (our wording of the paper's three stages) ---------------------------------
SELECT_PROMPT = """You will solve problems of one kind. Below is a numbered list of general reasoning modules, \
then some example problems of that kind.

Reasoning modules:
{modules}

Example problems:
{examples}

Choose the reasoning modules that would help most with problems like these (usually 3 to 6). \
Answer with one chosen module per line, as its number and name, for example "9. Break it down". \
Do not solve the problems."""

ADAPT_PROMPT = """You will solve problems of one kind. These general reasoning modules were chosen for them:

{selected}

Example problems:
{examples}

Rewrite each chosen module as a concrete instruction for problems of this kind: one line per module, \
"- <module name>: <what to do for these problems>". Do not solve the problems."""

IMPLEMENT_PROMPT = """You will solve problems of one kind. Turn the instructions below into a step-by-step \
reasoning plan written as a JSON object. Each key names one step to carry out; each value is an empty string, \
to be filled in later while solving a problem. The last key must ask for the final answer.

Here is such a plan for a different task ({example_task}); its keys belong to that task, so do not reuse them:
```json
{example_structure}
```

Instructions adapted to this task:
{adapted}

Example problems:
{examples}

Write only the JSON plan for this task, with no other text. Do not solve the problems."""

RETRY_PROMPT = """{previous_prompt}

Your previous reply was:
{reply}

It could not be used as the plan: {error}. Reply again with only one valid JSON object for this task: keys in \
double quotes, values as empty strings, no comments."""

SOLVE_PROMPT = """Follow this step-by-step reasoning plan to solve the problem. Copy the JSON plan and fill in \
every value with your reasoning for this problem (do not just repeat the key), then give the final answer.

Plan:
```json
{structure}
```

Problem: {question}

After the filled JSON, end with the line "The answer is <ANSWER>." where <ANSWER> is {answer_format}."""

DIRECT_PROMPT = """{question}

Reply with the final answer only: "The answer is <ANSWER>." where <ANSWER> is {answer_format}. \
No explanation."""

COT_PROMPT = """{question}

Let's think step by step. End with the line "The answer is <ANSWER>." where <ANSWER> is {answer_format}."""


# ----- data ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Module:
    number: int  # 1..39, as shown to the model
    name: str
    description: str


@lru_cache(maxsize=1)
def reasoning_modules() -> tuple[Module, ...]:
    """The 39 reasoning modules (the paper takes them from Promptbreeder), in this project's words."""
    items = json.loads((ASSETS / "modules.json").read_text())
    return tuple(Module(i + 1, d["name"], d["description"]) for i, d in enumerate(items))


@lru_cache(maxsize=1)
def human_structure() -> dict:
    """The human-written structure shown to IMPLEMENT as a format example: {"task", "structure"}."""
    return json.loads((ASSETS / "example_structure.json").read_text())


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    answer_type: str  # "number", "choice" or "date": how answers are read and compared
    answer_format: str  # how the prompts ask for the answer ("a single number", ...)
    problems: tuple[Problem, ...]


TASKS = {
    "arithmetic": ("Arithmetic word problems (the CoT tab's set)", "number", "a single number"),
    "boolean_expressions": ("Evaluate a boolean expression over True/False", "choice", "True or False"),
    "shuffled_objects": ("Track who holds which ball after swaps", "choice", "one colour"),
    "date_arithmetic": ("Add or subtract days from a date", "date", "a date in MM/DD/YYYY format"),
}


def task_names() -> list[str]:
    return list(TASKS)


def load_task(name: str) -> Task:
    """A built-in task: the arithmetic problems of :func:`backends.cot_decoding.load_problems` or a task built by
    scripts/build_self_discover_tasks.py."""
    if not isinstance(name, str) or name not in TASKS:
        raise InputError(f"Unknown task {name!r:.60}; valid tasks: {', '.join(TASKS)}.")
    description, answer_type, answer_format = TASKS[name]
    if name == "arithmetic":
        problems = [p for p in load_problems() if p.kind == "arithmetic"]
    else:
        problems = []
        for line in (ASSETS / "tasks" / f"{name}.jsonl").read_text().splitlines():
            if line.strip():
                d = json.loads(line)
                problems.append(Problem(d["question"], d["answer"], d.get("kind", answer_type),
                                        {k: v for k, v in d.items() if k not in ("question", "answer", "kind")}))
    return Task(name, description, answer_type, answer_format, tuple(problems))


# ----- LM calls --------------------------------------------------------------------------------------
class Completer(Protocol):
    name: str

    def complete(self, prompt: str, *, max_new_tokens: int, n: int = 1, sample: bool = False,
                 temperature: float = SC_TEMPERATURE, seed: int = 0, deadline: Deadline | None = None) -> list[str]:
        ...


class ModelCompleter:
    """A registry model as a :class:`Completer`: the prompt as one user turn of its chat template (a plain
    transcript for base models), decoded greedily, or as n seeded samples in one batch from one prefill."""

    def __init__(self, lm: Any):
        self.lm, self.name = lm, lm.name

    def complete(self, prompt: str, *, max_new_tokens: int, n: int = 1, sample: bool = False,
                 temperature: float = SC_TEMPERATURE, seed: int = 0, deadline: Deadline | None = None) -> list[str]:
        import torch

        from backends.decoding import chat_ids, decode, prefill

        start = prefill(self.lm, [chat_ids(self.lm, prompt)])
        if n > 1:
            start = start.fork(repeat=n)
        gen = torch.Generator().manual_seed(int(seed)) if sample else None
        out = decode(self.lm, start, max_new_tokens, sample=sample, temperature=temperature, generator=gen,
                     deadline=deadline)
        return [self.lm.tokenizer.decode(ids, skip_special_tokens=True).strip() for ids in out.ids]


def completer_of(model: Any) -> Completer:
    """Resolve ``model`` once: a Completer as given, else a loaded model or a name/slot (None: "chat")."""
    if hasattr(model, "complete") and hasattr(model, "name"):
        return model
    from backends.models import loaded

    return ModelCompleter(loaded(model, "chat"))


class _Capped:
    """A Completer whose replies are cut at ``cap`` tokens (a quick run; every stage keeps its own lower limit)."""

    def __init__(self, lm: Completer, cap: int):
        self.lm, self.cap, self.name = lm, cap, lm.name

    def complete(self, prompt: str, *, max_new_tokens: int, **kw: Any) -> list[str]:
        return self.lm.complete(prompt, max_new_tokens=min(max_new_tokens, self.cap), **kw)


def _lm(model: Any, max_new_tokens: int | None) -> Completer:
    """The Completer of ``model``, its replies capped at ``max_new_tokens`` when given."""
    if max_new_tokens is None:
        return completer_of(model)
    cap = check_count(max_new_tokens, what="Token limit per reply", low=4, high=1024)
    lm = completer_of(model)
    return _Capped(lm.lm if isinstance(lm, _Capped) else lm, cap)


@dataclass(frozen=True)
class Call:
    """One LM call as it ran: the user prompt verbatim and the reply (or the n sampled replies)."""

    stage: str  # "select", "adapt", "implement", "implement retry", "solve", "direct", "cot", "cot-sc"
    prompt: str
    replies: list[str]
    seconds: float

    @property
    def count(self) -> int:
        """LM calls this stands for: one per reply (k samples are k calls, however they were batched)."""
        return len(self.replies)

    def to_dict(self) -> dict:
        return {**asdict(self), "count": self.count}


class _Recorder:
    def __init__(self, lm: Completer, deadline: Deadline):
        self.lm, self.deadline, self.calls = lm, deadline, []

    def ask(self, stage: str, prompt: str, max_new_tokens: int, n: int = 1, sample: bool = False,
            seed: int = 0) -> list[str]:
        self.deadline.check(f"Self-Discover stopped before its '{stage}' call: the request ran past its time "
                            "budget. Use fewer problems or a smaller token limit.")
        t0 = time.perf_counter()
        replies = list(self.lm.complete(prompt, max_new_tokens=max_new_tokens, n=n, sample=sample,
                                        temperature=SC_TEMPERATURE, seed=seed, deadline=self.deadline))
        self.calls.append(Call(stage, prompt, replies, time.perf_counter() - t0))
        return replies


def n_calls(calls: Sequence[Call]) -> int:
    return sum(c.count for c in calls)


# ----- parsing ---------------------------------------------------------------------------------------
FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.S)


def first_balanced(text: str, open_ch: str = "{", close_ch: str = "}") -> str | None:
    """The first balanced ``{...}`` span of ``text`` (braces inside JSON strings ignored), or None."""
    start = text.find(open_ch)
    if start < 0:
        return None
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == open_ch:
            depth += 1
        elif ch == close_ch:
            depth -= 1
            if depth == 0:
                return text[start:i + 1]
    return None


def extract_json(text: str) -> tuple[dict | None, str]:
    """The first JSON object in a reply: (object, "") or (None, why not).

    Tolerant of what models wrap around it (code fences, prose before and after) and of trailing commas;
    it never adds keys or values: a reply without a complete object is an error, not a guess.
    """
    candidates = [m.group(1) for m in FENCE.finditer(text)] + [text]
    error = "the reply holds no '{'"
    for cand in candidates:
        span = first_balanced(cand)
        if span is None:
            if "{" in cand:
                error = "the JSON object is not closed (a '}' is missing; the reply may have been cut off)"
            continue
        for attempt in (span, re.sub(r",\s*([}\]])", r"\1", span)):
            try:
                obj = json.loads(attempt)
            except json.JSONDecodeError as e:
                error = f"{e.msg} at line {e.lineno}, column {e.colno}"
                continue
            if isinstance(obj, dict) and obj:
                return obj, ""
            error = "the JSON object is empty"
    return None, error


def parse_selection(reply: str, modules: Sequence[Module] | None = None) -> list[Module]:
    """The modules a SELECT reply names, by number (1-39) or by exact name, in the order first named."""
    modules = list(modules or reasoning_modules())
    found: dict[int, Module] = {}
    for line in reply.splitlines():
        low = line.lower()
        named = sorted((low.find(mod.name.lower()), mod.number) for mod in modules if mod.name.lower() in low)
        if named:  # a name is the surest sign; "1. 17. Causes" is the list's item 1, module 17
            for _, number in named:
                found.setdefault(number, modules[number - 1])
            continue
        # a module number, after an optional list enumerator ("2) 9. ..."), bullet or the word "module"
        m = re.match(r"^\s*(?:[-*]\s*)?(?:\d{1,2}[.)]\s+(?=\d))?(?:module\s*)?\(?(\d{1,2})[.):\s]", line, re.I)
        if m and 1 <= int(m.group(1)) <= len(modules):
            found.setdefault(int(m.group(1)), modules[int(m.group(1)) - 1])
    return list(found.values())


def parse_adapted(reply: str) -> list[str]:
    """The non-empty lines of an ADAPT reply, list markers removed."""
    return [re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", ln).strip() for ln in reply.splitlines() if ln.strip()]


ANSWER_IS = re.compile(r"answer\s*(?:is|:)\s*", re.I)
DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b")


def _answer_tail(text: str) -> str | None:
    found = list(ANSWER_IS.finditer(text))
    return text[found[-1].end():] if found else None


def _read(text: str, answer_type: str, options: Sequence[str]) -> str | None:
    if answer_type == "number":
        found = find_number_answer(text)
        return found[0] if found else None
    if answer_type == "date":
        found = list(DATE.finditer(text))
        if not found:
            return None
        mo, d, y = found[-1].groups()
        return f"{int(mo):02d}/{int(d):02d}/{y}"
    # choice: the last option mentioned (word boundaries, case-insensitive)
    best, at = None, -1
    for opt in options:
        for m in re.finditer(rf"\b{re.escape(opt)}\b", text, re.I):
            if m.start() > at:
                best, at = opt, m.start()
    return best


def extract_answer(text: str, answer_type: str = "number", options: Sequence[str] = ()) -> str | None:
    """The answer of a reply: read from the clause after its last "answer is" (first line of it) when there is
    one (there: the first number, the first option named, the last date), else from the whole reply by the CoT
    tab's rule for numbers (the last number, normalised); dates as MM/DD/YYYY; for choices, the last option named."""
    # A small model may echo the instruction ('end with "The answer is <ANSWER>."'): that line holds no answer.
    text = "\n".join(ln for ln in text.splitlines() if "<ANSWER>" not in ln)
    tail = _answer_tail(text)
    if tail is not None:
        first = tail.strip().split("\n", 1)[0]
        if answer_type == "choice":  # "The answer is red." -> the first option named in that clause
            hits = [(m.start(), o) for o in options for m in re.finditer(rf"\b{re.escape(o)}\b", first, re.I)]
            if hits:
                return min(hits)[1]
        if answer_type == "number":  # "The answer is 138 (not 140)": the first number of that clause
            m = NUMBER.search(first)
            if m:
                return normalise_number(m.group())
        got = _read(first, answer_type, options)
        if got is not None:
            return got
    return _read(text, answer_type, options)


def is_correct(pred: str | None, gold: str, answer_type: str = "number") -> bool:
    if pred is None:
        return False
    if answer_type == "number":
        try:
            return normalise_number(pred) == normalise_number(gold)
        except ValueError:
            return False
    return pred.strip().lower() == gold.strip().lower()


# ----- stage 1: discover -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Structure:
    """A task's reasoning structure and the stage-1 calls that made it."""

    task_examples: list[str]
    model: str
    selected: list[str]  # "9. Break it down: ..." for each module SELECT named
    adapted: list[str]  # ADAPT's lines, one per adapted module
    structure: dict  # IMPLEMENT's JSON plan ({} when it did not parse, see ``error``)
    prompts: dict[str, str]  # stage -> the prompt it ran, verbatim (the last one where a stage was retried)
    calls: list[Call]
    error: str = ""  # why there is no structure ("" when there is one)
    notes: list[str] = field(default_factory=list)  # what went wrong on the way and how it was handled
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.structure)

    @property
    def n_calls(self) -> int:
        return n_calls(self.calls)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["calls"] = [c.to_dict() for c in self.calls]
        return {**d, "n_calls": self.n_calls, "ok": self.ok}


def _check_examples(task_examples: Sequence[str] | str) -> list[str]:
    if isinstance(task_examples, str):
        task_examples = [task_examples]
    if not isinstance(task_examples, (list, tuple)):
        raise InputError("Task examples must be a list of texts (a few unlabelled problems of the task).")
    examples = [check_text(t, what=f"Task example {i + 1}") for i, t in enumerate(task_examples)]
    if not examples:
        raise InputError("Give at least one example problem of the task.")
    if len(examples) > MAX_EXAMPLES:
        raise InputError(f"Give at most {MAX_EXAMPLES} example problems; got {len(examples)}.")
    return examples


def _numbered(examples: Sequence[str]) -> str:
    return "\n".join(f"{i + 1}. {t}" for i, t in enumerate(examples))


def _read_plan(reply: str, example: dict) -> tuple[dict | None, str]:
    """IMPLEMENT's plan, or why it is not one: no JSON object, or a copy of the format example's keys (small
    models often copy it; a plan for another task is no plan for this one)."""
    plan, error = extract_json(reply)
    if plan is not None and set(plan) == set(example):
        return None, "it copies the example plan of the other task instead of writing steps for this task"
    return plan, error


def discover(task_examples: Sequence[str] | str, model: Any = None, *, seed: int = 0,
             time_budget_s: float | None = None, max_new_tokens: int | None = None) -> Structure:
    """Stage 1: SELECT, ADAPT and IMPLEMENT on a few unlabelled examples of a task (3 greedy calls; one more
    when the JSON plan does not parse: the retry shows the model its reply and the parse error).

    A plan that still does not parse gives a Structure with ``structure == {}`` and ``error`` saying why, not an
    exception. ``seed`` is kept for the record (the stage-1 calls are greedy, so a run is reproducible).
    """
    examples = _check_examples(task_examples)
    rec = _Recorder(_lm(model, max_new_tokens), Deadline(time_budget_s))
    t0 = time.perf_counter()
    shown = _numbered(examples)
    modules = reasoning_modules()
    notes: list[str] = []
    prompts: dict[str, str] = {}

    prompts["select"] = SELECT_PROMPT.format(
        modules="\n".join(f"{m.number}. {m.name}: {m.description}" for m in modules), examples=shown)
    select_reply = rec.ask("select", prompts["select"], MAX_TOKENS["select"])[0]
    chosen = parse_selection(select_reply, modules)
    if chosen:
        selected = [f"{m.number}. {m.name}: {m.description}" for m in chosen]
    else:
        selected = parse_adapted(select_reply) or [select_reply.strip()]
        notes.append("SELECT named no module by number or name; its reply is passed to ADAPT as it is.")

    prompts["adapt"] = ADAPT_PROMPT.format(selected="\n".join(selected), examples=shown)
    adapt_reply = rec.ask("adapt", prompts["adapt"], MAX_TOKENS["adapt"])[0]
    adapted = parse_adapted(adapt_reply)

    example = human_structure()
    prompts["implement"] = IMPLEMENT_PROMPT.format(
        example_task=example["task"], example_structure=json.dumps(example["structure"], indent=2),
        adapted="\n".join(adapted) or adapt_reply, examples=shown)
    reply = rec.ask("implement", prompts["implement"], MAX_TOKENS["implement"])[0]
    structure, error = _read_plan(reply, example["structure"])
    if structure is None:
        notes.append(f"IMPLEMENT's reply was not a usable JSON plan ({error}); asked once more with the error.")
        prompts["implement retry"] = RETRY_PROMPT.format(previous_prompt=prompts["implement"], reply=reply,
                                                         error=error)
        reply = rec.ask("implement retry", prompts["implement retry"], MAX_TOKENS["implement"])[0]
        structure, error = _read_plan(reply, example["structure"])
    message = ""
    if structure is None:
        message = (f"The model did not write a usable JSON reasoning structure, even after a retry ({error}). "
                   "Its replies are shown under the calls; try a larger model or other example problems.")
    return Structure(examples, rec.lm.name, selected, adapted, structure or {}, prompts, rec.calls, message, notes,
                     time.perf_counter() - t0)


MAX_PLAN_KEYS = 40


def plan_structure(plan: dict | str, task_examples: Sequence[str] = (), model: str = "") -> Structure:
    """A Structure from a plan given as a dict or as JSON text (a structure written or edited by hand, or one
    discovered before and saved): no stage-1 calls. Text is read as IMPLEMENT's replies are (fences, prose
    around, trailing commas); a plan must be a non-empty object of at most 40 steps with text keys."""
    if isinstance(plan, str):
        parsed, error = extract_json(check_text(plan, what="The JSON structure"))
        if parsed is None:
            raise InputError(f"The structure is not a JSON object ({error}). Write it as "
                             '{"step one": "", "step two": "", "final answer": ""}.')
        plan = parsed
    if not isinstance(plan, dict) or not plan:
        raise InputError("The structure must be a non-empty JSON object of steps.")
    if len(plan) > MAX_PLAN_KEYS:
        raise InputError(f"The structure has {len(plan)} steps; keep it to {MAX_PLAN_KEYS}.")
    try:
        size = len(json.dumps(plan))
    except (TypeError, ValueError):
        raise InputError("The structure must hold only JSON values (text, numbers, lists, objects).") from None
    if size > 8000:
        raise InputError("The structure is over 8,000 characters as JSON; keep it shorter.")
    examples = [str(t) for t in task_examples] if isinstance(task_examples, (list, tuple)) else []
    return Structure(examples, str(model), [], [], dict(plan), {}, [])


# ----- stage 2: solve, and the baselines -----------------------------------------------------------
@dataclass(frozen=True)
class Solution:
    question: str
    method: str  # "self-discover", "direct", "cot" or "cot-sc"
    answer: str | None
    filled: dict | None  # self-discover: the structure as the model filled it (None when it did not parse)
    answers: list[str | None]  # one per reply (k for cot-sc)
    votes: dict[str, int]  # cot-sc: answer -> samples
    calls: list[Call]
    seconds: float

    @property
    def n_calls(self) -> int:
        return n_calls(self.calls)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["calls"] = [c.to_dict() for c in self.calls]
        return {**d, "n_calls": self.n_calls}


def _check_question(question: str) -> str:
    question = check_text(question, what="Question")
    if len(question) > 4000:
        raise InputError(f"The question is {len(question):,} characters; keep it under 4,000.")
    return question


def _answer_args(answer_type: str, options: Sequence[str] | None) -> tuple[str, list[str]]:
    if answer_type not in ("number", "choice", "date"):
        raise InputError("answer_type must be number, choice or date.")
    if options is not None and not isinstance(options, (list, tuple)):
        raise InputError("options must be a list of the answer options (e.g. ['True', 'False']).")
    options = [str(o) for o in (options or [])]
    if len(options) > MAX_OPTIONS or any(not o.strip() or len(o) > 200 for o in options):
        raise InputError(f"Give at most {MAX_OPTIONS} answer options, each a non-empty text under 200 characters.")
    if answer_type == "choice" and not options:
        raise InputError("A choice answer needs its options (e.g. ['True', 'False']).")
    return answer_type, options


MAX_OPTIONS = 26
ANSWER_FORMATS = {"number": "a single number", "date": "a date in MM/DD/YYYY format"}


def _format_for(answer_type: str, options: Sequence[str], answer_format: str | None) -> str:
    if answer_format:
        return answer_format
    return ANSWER_FORMATS.get(answer_type) or "one of: " + ", ".join(options)


def solve(structure: Structure, question: str, model: Any = None, *, answer_type: str = "number",
          options: Sequence[str] | None = None, answer_format: str | None = None,
          time_budget_s: float | None = None, max_new_tokens: int | None = None) -> Solution:
    """Stage 2 (1 greedy call): the model fills ``structure`` for ``question`` and answers. ``model`` may differ
    from the one that discovered the structure (transfer)."""
    return _solve(_lm(model, max_new_tokens), structure, _check_question(question), *_answer_args(answer_type, options),
                  answer_format, Deadline(time_budget_s))


def _solve(lm: Completer, structure: Structure, question: str, answer_type: str, options: list[str],
           answer_format: str | None, deadline: Deadline) -> Solution:
    if not isinstance(structure, Structure) or not structure.ok:
        raise InputError("This structure has no JSON plan to follow"
                         + (f": {structure.error}" if isinstance(structure, Structure) and structure.error else ".")
                         + " Discover a structure again before solving.")
    rec, t0 = _Recorder(lm, deadline), time.perf_counter()
    prompt = SOLVE_PROMPT.format(structure=json.dumps(structure.structure, indent=2), question=question,
                                 answer_format=_format_for(answer_type, options, answer_format))
    reply = rec.ask("solve", prompt, MAX_TOKENS["solve"])[0]
    filled, _ = extract_json(reply)
    answer = extract_answer(reply, answer_type, options)
    if answer is None and filled:  # no "answer is" line and nothing readable after it: the plan's last value
        answer = _read(str(list(filled.values())[-1]), answer_type, options)
    return Solution(question, "self-discover", answer, filled, [answer], {}, rec.calls, time.perf_counter() - t0)


def baseline(question: str, model: Any = None, *, method: str = "cot", k: int = 5, seed: int = 0,
             answer_type: str = "number", options: Sequence[str] | None = None, answer_format: str | None = None,
             time_budget_s: float | None = None, max_new_tokens: int | None = None) -> Solution:
    """A baseline answer: "direct" (1 call), zero-shot "cot" (1 call) or "cot-sc" (k seeded samples of the CoT
    prompt decoded as one batch, majority vote; k calls)."""
    if method not in ("direct", "cot", "cot-sc"):
        raise InputError("method must be direct, cot or cot-sc.")
    k = check_count(k, what="Self-consistency samples (k)", low=1, high=64)
    return _baseline(_lm(model, max_new_tokens), _check_question(question), method, k, seed,
                     *_answer_args(answer_type, options), answer_format, Deadline(time_budget_s))


def _baseline(lm: Completer, question: str, method: str, k: int, seed: int, answer_type: str, options: list[str],
              answer_format: str | None, deadline: Deadline) -> Solution:
    rec, t0 = _Recorder(lm, deadline), time.perf_counter()
    fmt = _format_for(answer_type, options, answer_format)
    if method == "direct":
        replies = rec.ask("direct", DIRECT_PROMPT.format(question=question, answer_format=fmt), MAX_TOKENS["direct"])
    elif method == "cot":
        replies = rec.ask("cot", COT_PROMPT.format(question=question, answer_format=fmt), MAX_TOKENS["cot"])
    else:
        replies = rec.ask("cot-sc", COT_PROMPT.format(question=question, answer_format=fmt), MAX_TOKENS["cot"],
                          n=k, sample=True, seed=seed)
    answers = [extract_answer(r, answer_type, options) for r in replies]
    votes = dict(Counter(a for a in answers if a is not None).most_common())
    answer = next(iter(votes), None)  # most votes; ties go to the answer sampled first
    return Solution(question, method, answer, None, answers, votes, rec.calls, time.perf_counter() - t0)


# ----- evaluation ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Evaluation:
    task: str
    model: str
    n: int  # instances evaluated
    methods: list[str]  # "direct", "cot", "self-discover", "cot-sc (k=2)", ...
    accuracy: dict[str, float]
    interval: dict[str, tuple[float, float]]  # 95 % Wilson interval
    calls_per_instance: dict[str, float]  # self-discover: 1 + stage-1 calls / n
    seconds_per_instance: dict[str, float]
    structure: Structure
    records: list[dict]  # per instance: question, gold, each method's answer and correctness
    seconds: float
    stopped: str = ""  # "" or why the run ended before every instance ("time cap")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["structure"] = self.structure.to_dict()
        return d


def evaluate_iter(task: str | Task = "arithmetic", model: Any = None, *, n: int = 10, n_examples: int = 3,
                  sc_k: Sequence[int] | None = None, seed: int = 0, structure: Structure | None = None,
                  time_budget_s: float | None = None, max_new_tokens: int | None = None) -> Iterator[Evaluation]:
    """:func:`evaluate` as a stream: an Evaluation with no instances once the structure is there, then one after
    every instance (the last one is the result). ``structure``: a structure discovered before for this task (its
    stage-1 calls still count towards Self-Discover's calls per instance); None discovers one here."""
    t = task if isinstance(task, Task) else load_task(task)
    n = check_count(n, what="Instances", low=1, high=max(1, len(t.problems) - MAX_EXAMPLES))
    n_examples = check_count(n_examples, what="Task examples", low=1, high=MAX_EXAMPLES)
    if sc_k is not None:
        if isinstance(sc_k, (str, bytes)) or not isinstance(sc_k, (list, tuple)):
            raise InputError("sc_k must be a list of sample counts, e.g. [2, 5], or None (matched calls).")
        if not 1 <= len(sc_k) <= 4:
            raise InputError("Give 1 to 4 self-consistency sample counts k.")
        sc_k = [check_count(k, what="Self-consistency samples (k)", low=1, high=64) for k in sc_k]
    if structure is not None and not isinstance(structure, Structure):
        raise InputError("structure must be a Structure from discover() (or None to discover one).")
    lm, deadline, t0 = _lm(model, max_new_tokens), Deadline(time_budget_s), time.perf_counter()
    if structure is None:
        structure = discover([p.question for p in t.problems[-n_examples:]], lm, seed=seed,
                             time_budget_s=time_budget_s)
    ks = [math.ceil((n + structure.n_calls) / n)] if sc_k is None else list(dict.fromkeys(sc_k))
    methods = ["direct", "cot", "self-discover"] + [f"cot-sc (k={k})" for k in ks]
    records: list[dict] = []
    spent: Counter = Counter()

    def snapshot(stopped: str = "") -> Evaluation:
        return _summary(t.name, lm.name, methods, structure, records, spent, time.perf_counter() - t0, stopped)

    yield snapshot()
    for i, pb in enumerate(t.problems[:n]):
        if deadline.expired:
            yield snapshot("time cap")
            return
        options = pb.meta.get("options") or (["True", "False"] if t.answer_type == "choice" else [])
        try:
            sols = _instance(lm, structure, pb, i, ks, seed, t, options, deadline)
        except TimeBudgetError:  # the cap fell inside this instance: it is left out, the ones done stand
            yield snapshot("time cap")
            return
        rec = {"question": pb.question, "gold": pb.answer}
        for m in methods:
            s = sols.get(m)
            rec[m] = s.answer if s else None
            rec[f"{m} correct"] = bool(s) and is_correct(s.answer, pb.answer, t.answer_type)
            rec[f"{m} calls"] = s.n_calls if s else 0
            spent[m] += s.seconds if s else 0.0
        rec["self-discover filled"] = sols["self-discover"].filled if "self-discover" in sols else None
        rec["self-discover reply"] = sols["self-discover"].calls[0].replies[0] if "self-discover" in sols else ""
        records.append(rec)
        yield snapshot()


def _instance(lm: Completer, structure: Structure, pb: Problem, i: int, ks: list[int], seed: int, t: Task,
              options: list, deadline: Deadline) -> dict[str, Solution]:
    args = (t.answer_type, [str(o) for o in options], t.answer_format, deadline)
    sols = {"direct": _baseline(lm, pb.question, "direct", 1, seed, *args),
            "cot": _baseline(lm, pb.question, "cot", 1, seed, *args)}
    if structure.ok:
        sols["self-discover"] = _solve(lm, structure, pb.question, *args)
    for k in ks:
        sols[f"cot-sc (k={k})"] = _baseline(lm, pb.question, "cot-sc", k, seed + i, *args)
    return sols


def _summary(task: str, model: str, methods: list[str], structure: Structure, records: list[dict],
             spent: Counter, seconds: float, stopped: str) -> Evaluation:
    done = len(records)
    acc = {m: (sum(r[f"{m} correct"] for r in records) / done if done else float("nan")) for m in methods}
    ci = {m: wilson(sum(r[f"{m} correct"] for r in records), done) for m in methods}
    cpi = {m: (sum(r[f"{m} calls"] for r in records) / done if done else float("nan")) for m in methods}
    spi = {m: (spent[m] / done if done else float("nan")) for m in methods}
    if done:  # stage 1 is spent whether or not it gave a usable plan, and shared by the instances
        cpi["self-discover"] += structure.n_calls / done
        spi["self-discover"] += structure.seconds / done
    return Evaluation(task, model, done, methods, acc, ci, cpi, spi, structure, list(records), seconds, stopped)


def evaluate(task: str | Task = "arithmetic", model: Any = None, *, n: int = 10, n_examples: int = 3,
             sc_k: Sequence[int] | None = None, seed: int = 0, progress: ProgressFn | None = None,
             structure: Structure | None = None, time_budget_s: float | None = None,
             max_new_tokens: int | None = None) -> Evaluation:
    """Direct, zero-shot CoT, Self-Discover and CoT self-consistency on ``n`` instances of a built-in task.

    One structure is discovered from ``n_examples`` problems that are not evaluated (taken from the end of the
    task's list, answers unseen) and reused for all ``n`` instances (the first ``n``). ``sc_k``: the sample
    counts of self-consistency; None matches Self-Discover's calls per instance, rounded up. Instance i's
    samples are seeded with ``seed + i``. ``time_budget_s``: the run stops between instances once it is spent
    and the figures cover the instances done.
    """
    report = progress or (lambda f, m: None)
    name = task.name if isinstance(task, Task) else f"{task!s:.60}"
    report(0.0, f"Discovering a structure for {name} from {n_examples} examples")
    ev = None
    for ev in evaluate_iter(task, model, n=n, n_examples=n_examples, sc_k=sc_k, seed=seed, structure=structure,
                            time_budget_s=time_budget_s, max_new_tokens=max_new_tokens):
        if ev.n:
            report(ev.n / n, f"{ev.task}: {ev.n}/{n} instances")
    assert ev is not None
    return ev


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m backends.self_discover --task arithmetic --n 8 [--model NAME] [--sc-k 2 5] [--out FILE]``:
    the evaluation's table on stdout and, with ``--out``, its full record (every call verbatim) as JSON."""
    import argparse

    ap = argparse.ArgumentParser(description="Self-Discover against direct, CoT and CoT-SC on a built-in task.")
    ap.add_argument("--task", default="arithmetic", choices=task_names())
    ap.add_argument("--model", default=None, help="registry name or slot (default: the profile's chat model)")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--examples", type=int, default=3)
    ap.add_argument("--sc-k", type=int, nargs="*", default=None, help="self-consistency k (default: matched calls)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    ev = evaluate(args.task, args.model, n=args.n, n_examples=args.examples, sc_k=args.sc_k, seed=args.seed,
                  progress=lambda f, m: print(f"[{time.strftime('%H:%M:%S')}] {m}", flush=True))
    print(f"{ev.task} on {ev.model}: n={ev.n}, structure ok={ev.structure.ok} ({ev.structure.n_calls} stage-1 calls)")
    print(json.dumps(ev.structure.structure, indent=2) if ev.structure.ok else ev.structure.error)
    for m in ev.methods:
        lo, hi = ev.interval[m]
        print(f"{m:16s} acc {ev.accuracy[m]:.2f} [{lo:.2f}, {hi:.2f}]  calls/instance "
              f"{ev.calls_per_instance[m]:.2f}  s/instance {ev.seconds_per_instance[m]:.1f}")
    if args.out:
        Path(args.out).write_text(json.dumps(ev.to_dict(), indent=1))


if __name__ == "__main__":
    main()
