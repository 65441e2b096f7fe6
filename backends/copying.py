"""Repeat After Me (Jelassi et al. 2024): transformers copy strings that fixed-state models cannot.

Three parts, after the method note (shared/methods/repeat_after_me.md):

* **The copy task, trained from scratch.** An alphabet of D tokens plus <BOS>, <COPY> (and <PAD>, which only
  fills batches): the model reads "<BOS> x_1..x_L <COPY>" with x uniform over the alphabet and must write
  x_1..x_L. :func:`copy_experiment` trains a tiny transformer (2 layers, NoPE / Hard-ALiBi / ALiBi / RoPE) and
  fixed-state models (an LSTM sized to the transformer's parameter count, optionally a diagonal selective SSM
  in plain PyTorch) on lengths 1..train_len drawn at random, then measures on test_lens, lengths beyond
  training included. String accuracy is the share of strings copied entirely right by greedy decoding; a
  greedy copy is right exactly when every teacher-forced argmax is right (the prefix is then the model's own
  output), so one forward pass gives it exactly. Per-token accuracy is teacher-forced (each position given the
  right prefix). ``state_scales`` repeats each recurrent model with a wider state (Cor 2.8: its failure point
  should move with its state).
* **The state-size argument.** :func:`bits_to_copy` = L log2 D; a recurrent model's state holds
  :func:`state_bits` = floats x bits per float; Thm 2.7: any model with state set S errs with probability
  > 1 - |S| / D^L (:func:`thm27_error_bound`), and Cor 2.8: when mem(S) < L log2 D - 1 it errs more often than
  not (:func:`cor28_length`). These are information bounds: they say where a state of that size *must* fail,
  not where a trained network does.
* **Pretrained models.** :func:`lookup_experiment` (phone-book lookup: "Name: number" lines, two example
  queries, then the query) and :func:`text_copy_experiment` (copy a passage of natural text, optionally with
  its words shuffled) run every registry LM through the shared greedy decoder (backends.decoding.decode).
  No Mamba weights ship here and mamba-ssm needs CUDA, so no pretrained state-space model is compared.

No torch at import: torch and :mod:`backends._copying_nets` are imported inside the functions.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from backends.config import InputError, check_count, check_number

ARCHS = ("transformer", "lstm", "ssm")
ARCH_LABELS = {"transformer": "transformer", "lstm": "LSTM", "ssm": "diagonal SSM"}
POSITIONS = ("hard_alibi", "nope", "alibi", "rope")
POSITION_LABELS = {"hard_alibi": "Hard-ALiBi", "nope": "NoPE", "alibi": "ALiBi", "rope": "RoPE"}
MAX_ALPHABET = 256
MAX_TRAIN_LEN = 200
MAX_TEST_LEN = 400
MAX_STEPS = 5000
MAX_SCALE = 16
# Defaults measured on the 2-core machine (see SCALE_NOTE in tabs/copying.py and bench/bench_copying.py).
DEFAULTS = {"alphabet": 64, "d_model": 64, "layers": 2, "heads": 4, "batch_size": 64, "lr": 3e-3,
            "eval_strings": 100, "bits_per_float": 32}

ProgressFn = Callable[[float, str], None]


# ----- the task ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vocab:
    """Token ids of the copy task: 0..D-1 the alphabet, then <BOS>, <COPY>, <PAD>."""

    alphabet: int

    @property
    def bos(self) -> int:
        return self.alphabet

    @property
    def copy(self) -> int:
        return self.alphabet + 1

    @property
    def pad(self) -> int:
        return self.alphabet + 2

    @property
    def size(self) -> int:
        return self.alphabet + 3

    def show(self, ids: Sequence[int]) -> str:
        """Readable text of ids: letters a-z for an alphabet of at most 26, else numbers."""
        special = {self.bos: "<BOS>", self.copy: "<COPY>", self.pad: "<PAD>"}
        if self.alphabet <= 26:
            return " ".join(special.get(int(i), chr(97 + int(i))) for i in ids)
        return " ".join(special.get(int(i), str(int(i))) for i in ids)


def copy_batch(strings: Sequence[Sequence[int]], vocab: Vocab) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs, targets, mask) for "<BOS> x <COPY> x" rows padded on the right: inputs are the sequence less
    its last token, targets the sequence shifted by one, and mask marks the L positions whose target is a
    copied token (the position of <COPY> predicts x_1, ..., the position of the copied x_{L-1} predicts x_L)."""
    width = max(2 * len(s) + 2 for s in strings)
    seq = np.full((len(strings), width), vocab.pad, dtype=np.int64)
    mask = np.zeros((len(strings), width - 1), dtype=bool)
    for r, s in enumerate(strings):
        n = len(s)
        seq[r, : 2 * n + 2] = [vocab.bos, *s, vocab.copy, *s]
        mask[r, n + 1: 2 * n + 1] = True
    return seq[:, :-1], seq[:, 1:], mask


def random_strings(rng: np.random.Generator, n: int, length: int | tuple[int, int], alphabet: int) -> list[list[int]]:
    """``n`` uniform strings; ``length`` fixed or a (low, high) range drawn uniformly per string."""
    if isinstance(length, tuple):
        lens = rng.integers(length[0], length[1] + 1, size=n)
    else:
        lens = np.full(n, length)
    return [rng.integers(0, alphabet, size=int(k)).tolist() for k in lens]


def eval_strings_for(seed: int, length: int, n: int, alphabet: int) -> list[list[int]]:
    """The fixed test strings of one length: their own seed, independent of training and of other lengths."""
    return random_strings(np.random.default_rng([seed, 1_000_003, length]), n, length, alphabet)


# ----- the state-size argument ---------------------------------------------------------------------------


def bits_to_copy(length: float, alphabet: int) -> float:
    """L log2 D: the information in a uniform string of length L over D tokens."""
    return float(length) * math.log2(alphabet)


def state_bits(floats: int, bits_per_float: int = 32) -> int:
    """mem(S) of a recurrent model storing ``floats`` numbers of ``bits_per_float`` bits (|S| = 2^bits)."""
    return int(floats) * int(bits_per_float)


def _bound_args(bits: Any, alphabet: Any) -> tuple[float, int]:
    return (check_number(bits, what="State bits", low=0, high=1e15),
            check_count(alphabet, what="Alphabet size D", low=2, high=10**6))


def thm27_error_bound(bits: float, length: int, alphabet: int) -> float:
    """Thm 2.7's lower bound on the copy error of any model whose state takes 2^bits values: 1 - |S| / D^L,
    clipped at 0 (the bound is vacuous while the state can hold every string)."""
    bits, alphabet = _bound_args(bits, alphabet)
    length = check_count(length, what="String length", low=1, high=10**9)
    gap = bits - bits_to_copy(length, alphabet)  # log2(|S| / D^L)
    return 0.0 if gap >= 0 else -math.expm1(gap * math.log(2))


def cor28_length(bits: float, alphabet: int) -> int:
    """The shortest L at which Cor 2.8 guarantees an error above 1/2: mem(S) < L log2 D - 1."""
    bits, alphabet = _bound_args(bits, alphabet)
    return int(math.floor((bits + 1) / math.log2(alphabet))) + 1


# ----- results -------------------------------------------------------------------------------------------


@dataclass
class ArchRun:
    """One trained model: parameter count, state, loss curve, accuracies by test length, example copies."""

    key: str  # "transformer", "lstm", "lstm-x2", ...
    arch: str
    label: str
    params: int
    state_floats: int | None  # None for the transformer (its memory grows with the input)
    hidden: int
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    accuracy: dict[int, float] = field(default_factory=dict)  # string accuracy (greedy) by length
    token_accuracy: dict[int, float] = field(default_factory=dict)  # teacher-forced per-token accuracy
    samples: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    done: bool = False


@dataclass
class CopyResult:
    """The copy experiment so far (a snapshot while it streams, the final one at the end)."""

    settings: dict
    runs: dict[str, ArchRun]
    phase: str = ""
    seconds: float = 0.0
    stopped: str = ""

    @property
    def accuracy(self) -> dict[str, dict[int, float]]:
        return {k: dict(r.accuracy) for k, r in self.runs.items()}

    @property
    def token_accuracy(self) -> dict[str, dict[int, float]]:
        return {k: dict(r.token_accuracy) for k, r in self.runs.items()}

    @property
    def losses(self) -> dict[str, list[float]]:
        return {k: list(r.losses) for k, r in self.runs.items()}

    @property
    def params(self) -> dict[str, int]:
        return {k: r.params for k, r in self.runs.items()}

    @property
    def state_bits(self) -> dict[str, int | None]:
        b = self.settings["bits_per_float"]
        return {k: None if r.state_floats is None else state_bits(r.state_floats, b) for k, r in self.runs.items()}

    @property
    def complete(self) -> bool:
        return bool(self.runs) and all(r.done for r in self.runs.values()) and not self.stopped

    def failure_length(self, key: str, threshold: float = 0.5) -> int | None:
        """The shortest test length whose string accuracy is below ``threshold`` (None: none is)."""
        acc = self.runs[key].accuracy
        return next((n for n in sorted(acc) if acc[n] < threshold), None)

    def crossing_length(self, key: str, threshold: float = 0.5) -> float | None:
        """Where string accuracy crosses ``threshold``, interpolated linearly between the two test lengths around
        it (finer than :meth:`failure_length`); None when no tested length is below it (or the first is)."""
        acc = self.runs[key].accuracy
        lens = sorted(acc)
        for a, b in zip(lens, lens[1:]):
            if acc[a] >= threshold > acc[b]:
                return a + (b - a) * (acc[a] - threshold) / (acc[a] - acc[b])
        return None

    def bound_rows(self) -> list[dict]:
        """Per test length: bits to copy, and per recurrent model its state bits and Thm 2.7's bound."""
        d = self.settings["alphabet"]
        rows = []
        for n in self.settings["test_lens"]:
            row = {"length": n, "bits_to_copy": round(bits_to_copy(n, d), 2)}
            for k, bits in self.state_bits.items():
                if bits is not None:
                    row[f"{k}_state_bits"] = bits
                    row[f"{k}_thm27_error_bound"] = round(thm27_error_bound(bits, n, d), 6)
            rows.append(row)
        return rows

    def accuracy_rows(self) -> tuple[list[str], list[list]]:
        header = ["model", "length", "beyond_training", "string_accuracy", "token_accuracy", "params", "state_bits"]
        rows = []
        for k, r in self.runs.items():
            for n in sorted(r.accuracy):
                rows.append([k, n, n > self.settings["train_len"], round(r.accuracy[n], 4),
                             round(r.token_accuracy.get(n, float("nan")), 4), r.params, self.state_bits[k]])
        return header, rows

    def to_dict(self) -> dict:
        runs = {}
        for k, r in self.runs.items():
            d = dataclasses.asdict(r)
            d["accuracy"] = {str(n): v for n, v in r.accuracy.items()}
            d["token_accuracy"] = {str(n): v for n, v in r.token_accuracy.items()}
            d["state_bits"] = self.state_bits[k]
            d["failure_length"] = self.failure_length(k)
            d["crossing_length"] = self.crossing_length(k)
            runs[k] = d
        return {"settings": self.settings, "runs": runs, "bounds": self.bound_rows(), "phase": self.phase,
                "seconds": self.seconds, "stopped": self.stopped}


# ----- models --------------------------------------------------------------------------------------------


def _build(arch: str, vocab: Vocab, s: dict, scale: int, budget: int | None) -> Any:
    from backends import _copying_nets as N

    if arch == "transformer":
        return N.CopyTransformer(vocab.size, s["d_model"], s["layers"], s["heads"], s["position"])
    if arch == "lstm":
        hidden = s["lstm_hidden"] or N.lstm_hidden_for(budget or 0, vocab.size)
        return N.CopyLSTM(vocab.size, hidden * scale)
    return N.DiagonalSSM(vocab.size, s["d_model"], s["layers"], s["ssm_state"] * scale)


def _run_key(arch: str, scale: int) -> str:
    return arch if scale == 1 else f"{arch}-x{scale}"


def _label(arch: str, scale: int, model: Any, position: str) -> str:
    if arch == "transformer":
        return f"transformer ({POSITION_LABELS[position]})"
    width = f"h={model.hidden}" if arch == "lstm" else f"N={model.n}"
    return f"{ARCH_LABELS[arch]} {width}" + (f" (state x{scale})" if scale > 1 else "")


# ----- training and evaluation ---------------------------------------------------------------------------


def evaluate(model: Any, strings: Sequence[Sequence[int]], vocab: Vocab, batch: int = 100) -> tuple[float, float]:
    """(string accuracy under greedy decoding, teacher-forced per-token accuracy) on ``strings``.

    Greedy decoding emits the argmax at each copy position given its own previous outputs; while those are
    right they equal the true prefix, so a string is copied right exactly when every teacher-forced argmax
    is right. One forward pass per batch therefore gives the greedy string accuracy exactly."""
    import torch

    right_strings, right_tokens, tokens = 0, 0, 0
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(strings), batch):
                x, y, m = copy_batch(strings[i:i + batch], vocab)
                pred = model(torch.from_numpy(x)).argmax(-1).numpy()
                ok = (pred == y) | ~m
                right_strings += int(ok.all(axis=1).sum())
                right_tokens += int(((pred == y) & m).sum())
                tokens += int(m.sum())
    finally:
        model.train(was)
    return right_strings / len(strings), right_tokens / max(1, tokens)


def greedy_copy(model: Any, string: Sequence[int], vocab: Vocab) -> list[int]:
    """Greedy decoding of the copy, one token at a time from "<BOS> x <COPY>" (what the model writes)."""
    import torch

    seq = [vocab.bos, *string, vocab.copy]
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            for _ in range(len(string)):
                logits = model(torch.tensor([seq]))[0, -1]
                seq.append(int(logits[: vocab.alphabet].argmax()))
    finally:
        model.train(was)
    return seq[len(string) + 2:]


def _lr_at(step: int, steps: int, lr: float) -> float:
    """Linear warm-up over the first 5 % of steps, then cosine decay to a tenth."""
    warm = max(1, steps // 20)
    if step < warm:
        return lr * (step + 1) / warm
    t = (step - warm) / max(1, steps - warm)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def _train_one(run: ArchRun, model: Any, s: dict, vocab: Vocab, seed: int, dl: Any,
               report: ProgressFn) -> Iterator[str]:
    """Train ``model`` in place, appending to ``run``'s curve; yields "" after each logged step, or the
    reason it stopped early."""
    import torch
    from torch.nn import functional as F

    torch.manual_seed(seed)
    rng = np.random.default_rng([seed, 7])  # the same batches for every model
    opt = torch.optim.AdamW(model.parameters(), lr=s["lr"], weight_decay=0.01, betas=(0.9, 0.98))
    steps, log_every = s["steps"], max(1, s["steps"] // 50)
    model.train()
    for step in range(steps):
        if dl.expired:
            yield "time cap"
            return
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, steps, s["lr"])
        x, y, m = copy_batch(random_strings(rng, s["batch_size"], (1, s["train_len"]), vocab.alphabet), vocab)
        logits = model(torch.from_numpy(x))
        mt = torch.from_numpy(m)
        loss = F.cross_entropy(logits[mt], torch.from_numpy(y)[mt])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % log_every == 0 or step == steps - 1:
            run.steps.append(step + 1)
            run.losses.append(float(loss.detach()))
            report((step + 1) / steps, f"{run.label}: step {step + 1}/{steps}, loss {run.losses[-1]:.3f}")
            yield ""


def check_copy_settings(arch: Any, train_len: Any, test_lens: Any, steps: Any, alphabet: Any,
                        state_scales: Any) -> tuple[tuple[str, ...], int, tuple[int, ...], int, int, tuple[int, ...]]:
    """Validated (archs, train_len, test_lens, steps, alphabet, state_scales) with messages that say what to fix."""
    archs = (arch,) if isinstance(arch, str) else tuple(arch or ())
    bad = [a for a in archs if a not in ARCHS]
    if bad or not archs:
        raise InputError(f"Architectures must be among {', '.join(ARCHS)} (at least one), got {list(archs)}.")
    archs = tuple(dict.fromkeys(archs))
    train_len = check_count(train_len, what="Training length", low=1, high=MAX_TRAIN_LEN)
    if isinstance(test_lens, str):
        test_lens = [p for p in test_lens.replace(";", ",").replace(" ", ",").split(",") if p.strip()]
    try:
        lens = list(test_lens)
    except TypeError:
        raise InputError(f"Test lengths must be a list of whole numbers like 10, 20, 40, got {test_lens!r}.") from None
    if not lens or len(lens) > 24:
        raise InputError(f"Give between 1 and 24 test lengths, got {len(lens)}.")
    lens = sorted({check_count(n, what="Each test length", low=1, high=MAX_TEST_LEN) for n in lens})
    steps = check_count(steps, what="Training steps", low=1, high=MAX_STEPS)
    alphabet = check_count(alphabet, what="Alphabet size D", low=2, high=MAX_ALPHABET)
    scales = (state_scales,) if isinstance(state_scales, (int, float, str)) else tuple(state_scales or (1,))
    scales = tuple(sorted({check_count(x, what="State scale", low=1, high=MAX_SCALE) for x in scales}))
    return archs, train_len, tuple(lens), steps, alphabet, scales


def copy_experiment_iter(arch: Any = ("transformer", "lstm"), train_len: int = 20,
                         test_lens: Any = (10, 20, 40), steps: int = 300, seed: int = 0, *,
                         alphabet: int = 64, position: str = "hard_alibi", d_model: int = 64, layers: int = 2,
                         heads: int = 4, lstm_hidden: int | None = None, ssm_state: int = 16,
                         state_scales: Any = (1,), batch_size: int = 64, lr: float = 3e-3,
                         eval_strings: int = 100, bits_per_float: int = 32, samples: int = 3,
                         deadline: Any = None, progress: ProgressFn | None = None,
                         threads: int | None = 1) -> Iterator[CopyResult]:
    """Train each architecture on the copy task and test it at every length; yields a :class:`CopyResult`
    about fifty times per model while training and once after each model's evaluation.

    ``arch``: any of "transformer", "lstm", "ssm". The transformer (``layers`` x ``d_model``, ``heads``
    heads, positional scheme ``position``) sets the parameter budget; the LSTM's width is chosen to match it
    (unless ``lstm_hidden``) and the SSM has the transformer's width and depth with ``ssm_state`` state
    numbers per channel. ``state_scales``: each recurrent model is also trained with its state widened by
    each factor (the "bigger recurrent state" experiment; its parameter count grows too). Training strings
    have lengths drawn uniformly from 1..``train_len``; every model sees the same batches (``seed``).
    ``deadline`` (a Deadline) stops training and evaluates what was trained.
    """
    from backends import _copying_nets as N
    from backends.decoding import Deadline
    from backends.training import torch_threads

    t0 = time.perf_counter()
    archs, train_len, lens, steps, alphabet, scales = check_copy_settings(arch, train_len, test_lens, steps,
                                                                          alphabet, state_scales)
    if position not in POSITIONS:
        raise InputError(f"Position scheme must be one of {', '.join(POSITIONS)}, got {position!r}.")
    seed = check_count(seed, what="Seed", low=0, high=2**31 - 1)
    heads = check_count(heads, what="Heads", low=1, high=16)
    d_model = check_count(d_model, what="Model width", low=8, high=512)
    if d_model % heads or (position == "rope" and (d_model // heads) % 2):
        raise InputError(f"Model width {d_model} must split into {heads} heads (of even size for RoPE).")
    s = {"archs": list(archs), "train_len": train_len, "test_lens": list(lens), "steps": steps, "seed": seed,
         "alphabet": alphabet, "position": position, "d_model": d_model,
         "layers": check_count(layers, what="Layers", low=1, high=8), "heads": heads,
         "lstm_hidden": None if lstm_hidden is None else check_count(lstm_hidden, what="LSTM width", low=2,
                                                                     high=2048),
         "ssm_state": check_count(ssm_state, what="SSM state per channel", low=1, high=256),
         "state_scales": list(scales), "batch_size": check_count(batch_size, what="Batch size", low=1, high=512),
         "lr": check_number(lr, what="Learning rate", low=1e-6, high=1.0),
         "eval_strings": check_count(eval_strings, what="Test strings per length", low=1, high=2000),
         "bits_per_float": check_count(bits_per_float, what="Bits per float", low=1, high=64)}
    vocab = Vocab(alphabet)
    dl = Deadline.of(deadline)
    report = progress or (lambda f, m: None)
    result = CopyResult(s, {})
    plan = [(a, 1) for a in archs if a == "transformer"] + [(a, k) for a in archs if a != "transformer"
                                                          for k in scales]
    with torch_threads(threads):
        import torch

        torch.manual_seed(seed)
        budget = N.n_params(N.CopyTransformer(vocab.size, d_model, s["layers"], heads, position))
        s["param_budget"] = budget
        for i, (a, k) in enumerate(plan):
            torch.manual_seed(seed)
            model = _build(a, vocab, s, k, budget)
            floats = None if a == "transformer" else model.state_floats()
            key = _run_key(a, k)
            run = ArchRun(key, a, _label(a, k, model, position), N.n_params(model), floats,
                          getattr(model, "hidden", d_model))
            result.runs[key] = run
            t1 = time.perf_counter()

            def rep(f: float, msg: str, i=i) -> None:
                report((i + f) / len(plan), msg)

            for why in _train_one(run, model, s, vocab, seed, dl, rep):
                result.phase, result.seconds = f"training {run.label}", time.perf_counter() - t0
                if why:
                    result.stopped = why
                    break
                yield result
            result.phase = f"testing {run.label}"
            for n in lens:
                acc, tok = evaluate(model, eval_strings_for(seed, n, s["eval_strings"], alphabet), vocab)
                run.accuracy[n], run.token_accuracy[n] = acc, tok
            for n in sorted({min(lens), max(lens)})[: max(0, samples)]:
                x = eval_strings_for(seed, n, 1, alphabet)[0]
                out = greedy_copy(model, x, vocab)
                run.samples.append({"length": n, "input": vocab.show(x), "output": vocab.show(out),
                                    "right": out == x})
            run.seconds, run.done = time.perf_counter() - t1, True
            result.seconds = time.perf_counter() - t0
            yield result
            if result.stopped:
                break
    result.phase, result.seconds = "done", time.perf_counter() - t0
    yield result


def copy_experiment(arch: Any = ("transformer", "lstm"), train_len: int = 20, test_lens: Any = (10, 20, 40),
                    steps: int = 300, seed: int = 0, **kwargs: Any) -> CopyResult:
    """:func:`copy_experiment_iter` run to the end: the final :class:`CopyResult`."""
    import collections

    return collections.deque(copy_experiment_iter(arch, train_len, test_lens, steps, seed, **kwargs), maxlen=1)[0]


# ----- pretrained models: phone-book lookup and copying natural text -------------------------------------

TASKS = ("lookup", "copy_text", "copy_shuffled")
TASK_LABELS = {"lookup": "phone-book lookup", "copy_text": "copy natural text",
               "copy_shuffled": "copy text with shuffled words"}
FIRST_NAMES = ("James", "Mary", "Robert", "Linda", "Michael", "Susan", "David", "Karen", "Daniel", "Nancy", "Paul",
               "Laura", "Mark", "Helen", "Steven", "Sandra", "Andrew", "Donna", "Kevin", "Carol", "Brian", "Ruth",
               "George", "Sharon", "Edward", "Amy", "Ronald", "Anna", "Jason", "Julie", "Jeffrey", "Emma",
               "Ryan", "Olivia", "Gary", "Diane", "Eric", "Alice", "Peter", "Grace")
LAST_NAMES = ("Powell", "Garcia", "Miller", "Davis", "Wilson", "Moore", "Taylor", "Thomas", "Jackson", "White",
              "Harris", "Martin", "Thompson", "Clark", "Lewis", "Walker", "Hall", "Allen", "Young", "King",
              "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Hill", "Campbell", "Mitchell", "Roberts",
              "Carter", "Phillips", "Evans", "Turner", "Torres", "Parker", "Collins", "Edwards", "Stewart", "Morris")
MAX_ENTRIES = 400  # 40 x 40 names
MAX_WORDS = 300
MAX_NEW_TOKENS = 800  # a 300-word copy at 2.5 tokens a word, plus room
SHOT = ("Text: The sun rose over the quiet town.\nCopy: The sun rose over the quiet town.\n\n"
        "Text: {text}\nCopy:")


def packaged_lms(reg: Any = None) -> list[str]:
    """The registry's causal LMs that run offline (packaged weights), each once: what 'every registry LM'
    means here (hub models need a network; precision variants are the same model again)."""
    from backends.models import HUB, registry

    reg = reg or registry()
    return [n for n in reg.lm_names() if "@" not in n and reg.spec(n).source != HUB]


DEFAULT_MAX_BYTES = 1_000_000_000  # larger packaged models are one tick away, not in the default run


def default_models(reg: Any = None) -> list[str]:
    """The profile's chat and base models that are under a gigabyte packaged (tiny: SmolLM2-135M and Gemma 3
    270M; cpu: Qwen2.5-Coder 0.5B, as the 1.5B took most of a 17-minute lookup run on the busy 2-core machine),
    or the base model alone when both are larger."""
    from backends.models import registry

    reg = reg or registry()
    names = list(dict.fromkeys(reg.slots[s] for s in ("chat", "base")))
    small = [n for n in names if reg.spec(n).gguf_bytes < DEFAULT_MAX_BYTES]
    return small or [reg.slots["base"]]


def phone_book(rng: np.random.Generator, entries: int) -> list[tuple[str, str]]:
    """``entries`` distinct "First Last" names with random US-style numbers (ddd-ddd-dddd)."""
    picks = rng.choice(len(FIRST_NAMES) * len(LAST_NAMES), size=entries, replace=False)
    names = [f"{FIRST_NAMES[i // len(LAST_NAMES)]} {LAST_NAMES[i % len(LAST_NAMES)]}" for i in picks]
    nums = [f"{rng.integers(200, 1000)}-{rng.integers(200, 1000)}-{rng.integers(0, 10000):04d}" for _ in names]
    return list(zip(names, nums))


def lookup_prompt(book: list[tuple[str, str]], rng: np.random.Generator) -> tuple[str, str]:
    """(prompt, answer): the book as "Name: number" lines, two example queries answered, then the query.
    The examples and the query are three different entries drawn from the book."""
    order = rng.choice(len(book), size=min(3, len(book)), replace=False)
    lines = "\n".join(f"{n}: {p}" for n, p in book)
    shots = "".join(f"{book[i][0]}: {book[i][1]}\n" for i in order[:-1])
    name, number = book[order[-1]]
    return f"{lines}\n\n{shots}{name}:", number


def _passages(words: int, n: int, rng: np.random.Generator, shuffle: bool) -> list[str]:
    """``n`` passages of ``words`` words from held-out State of the Union addresses (a fixed seed picks where);
    with ``shuffle`` their words are put in random order (the paper's shuffled-text test: no n-gram prior)."""
    from backends.training import _sotu_split

    _, held = _sotu_split()
    toks = " ".join(held).split()
    out = []
    for _ in range(n):
        start = int(rng.integers(0, max(1, len(toks) - words)))
        while 0 < start < len(toks) - words and not toks[start - 1].endswith("."):
            start += 1  # begin at a sentence
        w = toks[start:start + words]
        if shuffle:
            w = [w[i] for i in rng.permutation(len(w))]
        out.append(" ".join(w))
    return out


def _score_copy(target: str, produced: str) -> tuple[bool, float]:
    """(exact, share of the target's words reproduced before the first wrong one), whitespace-normalised."""
    t, p = target.split(), produced.split()
    k = 0
    while k < len(t) and k < len(p) and t[k] == p[k]:
        k += 1
    return k == len(t), k / max(1, len(t))


@dataclass
class PretrainedResult:
    """Accuracy of packaged LMs on lookup or copying, by size (entries in the book, or words to copy)."""

    task: str
    models: list[str]
    sizes: list[int]
    accuracy: dict[str, dict[int, float]]  # share of trials fully right
    partial: dict[str, dict[int, float]]  # lookup: right digits share; copy: share copied before the 1st error
    trials: list[dict]
    settings: dict
    seconds: float = 0.0
    stopped: str = ""
    phase: str = ""

    def rows(self) -> tuple[list[str], list[list]]:
        header = ["model", "task", "size", "trial", "prompt_tokens", "right", "partial", "expected", "produced"]
        return header, [[t["model"], self.task, t["size"], t["trial"], t["prompt_tokens"], t["right"],
                         round(t["partial"], 4), t["expected"], t["produced"]] for t in self.trials]

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["accuracy"] = {m: {str(k): v for k, v in a.items()} for m, a in self.accuracy.items()}
        d["partial"] = {m: {str(k): v for k, v in a.items()} for m, a in self.partial.items()}
        return d


def _check_models(models: Any) -> list[str]:
    from backends.models import registry

    reg = registry()
    if models and not isinstance(models, (str, list, tuple)):
        raise InputError(f"Models must be a model name or a list of names, got {type(models).__name__}.")
    names = default_models(reg) if not models else ([models] if isinstance(models, str) else list(models))
    known = packaged_lms(reg)
    bad = [m for m in names if not isinstance(m, str) or (m not in known and m not in reg.lm_names())]
    if bad:
        raise InputError(f"Unknown model(s) {', '.join(map(str, bad))}: choose from {', '.join(known)}.")
    if len(names) > 6:
        raise InputError(f"Pick at most 6 models at once, got {len(names)}.")
    return list(dict.fromkeys(names))


def _trial_prompt(task: str, size: int, rng: np.random.Generator) -> tuple[str, str]:
    if task == "lookup":
        return lookup_prompt(phone_book(rng, size), rng)
    text = _passages(size, 1, rng, task == "copy_shuffled")[0]
    return SHOT.format(text=text), text


def _judge(task: str, expected: str, produced: str) -> tuple[bool, float]:
    if task == "lookup":
        import re

        got = re.search(r"\d{3}-\d{3}-\d{4}", produced)
        digits = got.group(0) if got else ""
        same = sum(a == b for a, b in zip(digits, expected))
        return digits == expected, same / len(expected)
    return _score_copy(expected, produced.split("\n")[0])


def pretrained_iter(task: str = "lookup", models: Any = None, sizes: Any = (5, 10, 20), trials: int = 3,
                    seed: int = 0, *, deadline: Any = None, progress: ProgressFn | None = None
                    ) -> Iterator[PretrainedResult]:
    """Run ``task`` ("lookup", "copy_text" or "copy_shuffled") on each model at each size (phone-book
    entries, or words to copy), ``trials`` prompts per size; yields the result after every size of every
    model. Every model gets the same prompts (drawn from ``seed`` and the size). Greedy decoding with the
    shared decoder (:func:`backends.decoding.decode`), all trials of a size as one batch, stopping at a
    newline; ``deadline`` ends the run between batches with what has finished."""
    from backends.decoding import Deadline, decode
    from backends.models import loaded

    t0 = time.perf_counter()
    if task not in TASKS:
        raise InputError(f"Task must be one of {', '.join(TASKS)}, got {task!r}.")
    names = _check_models(models)
    high = MAX_ENTRIES if task == "lookup" else MAX_WORDS
    what = "Phone-book entries" if task == "lookup" else "Words to copy"
    sizes = [sizes] if isinstance(sizes, (int, float, str)) else list(sizes or ())
    if not sizes or len(sizes) > 12:
        raise InputError(f"Give between 1 and 12 sizes, got {len(sizes)}.")
    sizes = sorted({check_count(s, what=what, low=3 if task == "lookup" else 1, high=high) for s in sizes})
    trials = check_count(trials, what="Trials per size", low=1, high=50)
    seed = check_count(seed, what="Seed", low=0, high=2**31 - 1)
    dl = Deadline.of(deadline)
    report = progress or (lambda f, m: None)
    res = PretrainedResult(task, names, sizes, {m: {} for m in names}, {m: {} for m in names}, [],
                           {"task": task, "models": names, "sizes": sizes, "trials": trials, "seed": seed})
    prompts = {n: [_trial_prompt(task, n, np.random.default_rng([seed, n, t])) for t in range(trials)]
               for n in sizes}
    total = len(names) * len(sizes)
    for mi, name in enumerate(names):
        report(mi / len(names), f"loading {name}")
        lm = loaded(name, "chat")
        newline = _newline_rule(lm)
        for si, n in enumerate(sizes):
            if dl.expired:
                res.stopped = "time cap"
                yield res
                return
            res.phase = f"{name}: {what.lower()} {n}"
            report((mi * len(sizes) + si) / total, res.phase)
            ids = [list(lm.tokenizer(p)["input_ids"]) for p, _ in prompts[n]]
            budget = 24 if task == "lookup" else min(MAX_NEW_TOKENS, int(n * 2.5) + 16)  # ~1.3 tokens a word
            out = decode(lm, ids, budget, stop=newline, deadline=dl)
            hits, parts = [], []
            for t, ((_, expected), new) in enumerate(zip(prompts[n], out.ids)):
                produced = lm.tokenizer.decode(new, skip_special_tokens=True).strip()
                right, part = _judge(task, expected, produced)
                hits.append(right)
                parts.append(part)
                res.trials.append({"model": name, "size": n, "trial": t, "prompt_tokens": len(ids[t]),
                                   "right": right, "partial": part, "expected": expected, "produced": produced})
            res.accuracy[name][n] = float(np.mean(hits))
            res.partial[name][n] = float(np.mean(parts))
            res.seconds = time.perf_counter() - t0
            yield res
    res.phase, res.seconds = "done", time.perf_counter() - t0
    yield res


def _newline_rule(lm: Any) -> Callable[[list[int]], bool]:
    """A decode stop rule: the reply so far holds a newline after some text."""
    def stop(ids: list[int]) -> bool:
        text = lm.tokenizer.decode(ids[-4:], skip_special_tokens=True)
        return "\n" in text and bool(lm.tokenizer.decode(ids, skip_special_tokens=True).strip())
    return stop


def _run(task: str, models: Any, sizes: Any, trials: int, seed: int, **kw: Any) -> PretrainedResult:
    import collections

    return collections.deque(pretrained_iter(task, models, sizes, trials, seed, **kw), maxlen=1)[0]


def lookup_experiment(models: Any = None, entries: Any = (5, 10, 20), trials: int = 3, seed: int = 0,
                      **kw: Any) -> PretrainedResult:
    """Phone-book lookup (the paper's Fig. 7 setting, small): accuracy against the number of entries."""
    return _run("lookup", models, entries, trials, seed, **kw)


def text_copy_experiment(models: Any = None, words: Any = (10, 20, 40), trials: int = 2, seed: int = 0,
                         shuffle: bool = False, **kw: Any) -> PretrainedResult:
    """Copy a held-out SOTU passage (words shuffled with ``shuffle``): accuracy against its length in words."""
    return _run("copy_shuffled" if shuffle else "copy_text", models, words, trials, seed, **kw)
