"""Shared pieces of the property tests: hostile inputs, a time bound, and a tally of what was tried.

The strategies mix cheap valid values with bad ones (control characters, right-to-left text, emoji,
NUL, lone surrogates, empty and enormous strings, NaN/inf, negative and huge counts, wrong types), so
that most examples exercise validation and the valid ones stay small enough for a 2-core CI machine.
"""
from __future__ import annotations

import json
import math
import os
import threading
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable

from hypothesis import strategies as st

from backends.config import limits

# Example counts. A function or endpoint with a valid strategy (hostile text with otherwise valid, cheap settings)
# gets half its examples from it and half from the hostile draw; in a normal run the valid half is capped at
# VALID_CAP where each valid example runs a model or a training step. WORKBENCH_PROP_FULL=1 restores the full counts
# (one mixed draw, nightly-style) and WORKBENCH_PROP_SCALE multiplies them.
SCALE = float(os.environ.get("WORKBENCH_PROP_SCALE", "1"))
FULL = os.environ.get("WORKBENCH_PROP_FULL", "") not in ("", "0")
VALID_CAP = 2

HUGE = limits().max_text_chars + 1
SPECIAL_TEXTS = [
    "", " ", "\n\n\t ", "\x00", "\x00" * 64, "\x00hello\x00", "\x01\x02\x1b[31m\x7f\x9f", "\r\n\x0b\x0c\x1c\x1d",
    "\u202eevil\u202c", "مرحبا بالعالم، هذا نص من اليمين إلى اليسار", "שלום עולם", "\u200f\u200e\u200b" * 50,
    "👩‍👩‍👧‍👦🏳️‍🌈🇺🇳" * 20, "e\u0301" * 500, "\ufeffBOM", "a\ud800b", "\udfff", "\U0010ffff", "Z̷̛̮a̶l̸g̵o̶" * 40,
    "x" * HUGE, "word " * 200_000, "../../../etc/passwd", "/etc/passwd", "C:\\Windows\\win.ini",
    "<script>alert(1)</script>", "{{7*7}} ${7*7} %s %n", "Robert'); DROP TABLE texts;--",
]
SPECIAL_NUMBERS = [math.nan, math.inf, -math.inf, -1, -0.0, 0, 0.5, -10**9, 10**9, 10**18, 2**63, -(2**63), 10**400,
                   1e308, -1e308, 5e-324, "3", "three", "", "nan", None, True, [], [3], {}, {"value": 3}, b"\x00"]
WRONG_TYPES = [None, 0, -1, 3.5, math.nan, True, [], ["a", "b"], {}, {"text": "x"}, b"bytes", (1, 2)]


def texts(max_size: int = 200) -> st.SearchStrategy:
    """Unicode text of every category (surrogates and control characters included), or a special case."""
    anything = st.characters(exclude_categories=())  # Cs (lone surrogates) and Cc included
    return st.one_of(st.sampled_from(SPECIAL_TEXTS), st.text(anything, max_size=max_size),
                     st.text(st.characters(codec="utf-8"), min_size=1, max_size=max_size))


def text_or_wrong(max_size: int = 200) -> st.SearchStrategy:
    return st.one_of(texts(max_size), st.sampled_from(WRONG_TYPES))


def bad_numbers() -> st.SearchStrategy:
    """Numbers no sane input would be, and things that are not numbers at all."""
    return st.one_of(st.sampled_from(SPECIAL_NUMBERS),
                     st.floats(allow_nan=True, allow_infinity=True).filter(lambda x: not -1e4 < x < 1e4),
                     st.integers(max_value=-1), st.integers(min_value=10**6))


def count(low: int, high: int) -> st.SearchStrategy:
    """A small valid count in [low, high] or a bad one (high kept small so that valid runs stay cheap)."""
    return st.one_of(st.integers(low, high), bad_numbers())


def number(low: float, high: float) -> st.SearchStrategy:
    return st.one_of(st.floats(low, high), bad_numbers())


def choice(options: list) -> st.SearchStrategy:
    return st.one_of(st.sampled_from(options), texts(40), st.sampled_from(WRONG_TYPES))


def example_plan(examples: int, hostile: st.SearchStrategy, valid: st.SearchStrategy | None, *, capped: bool,
                 full: bool = FULL, scale: float = SCALE,
                 one_valid: bool = False) -> list[tuple[st.SearchStrategy, int]]:
    """(strategy, examples) runs for one function or endpoint: every hostile example is kept; the valid half is
    capped at VALID_CAP when ``capped`` (it runs a model), unless ``full``. ``one_valid``: the valid strategy holds
    a single value (every argument fixed), so one example is all it has to give (Hypothesis would run it again)."""
    n = max(1, int(examples * scale))
    if valid is None:
        return [(hostile, n)]
    if full:
        return [(st.one_of(hostile, valid), n)]
    half = max(1, (n + 1) // 2)
    return [(hostile, half), (valid, 1 if one_valid else min(VALID_CAP, half) if capped else half)]


class Timeout(AssertionError):
    pass


def bounded(fn: Callable[[], Any], seconds: float) -> tuple[str, Any]:
    """Run fn in a thread; ("ok", value) or ("raised", exception). A hang past `seconds` fails the test."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["ok"] = fn()
        except BaseException as e:  # noqa: BLE001 - classified by the caller
            box["raised"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        raise Timeout(f"no answer within {seconds:.0f} s")
    return ("ok", box["ok"]) if "ok" in box else ("raised", box["raised"])


def assert_clear_message(message: str) -> None:
    """A message fit for a user: non-empty and without a traceback or the server's internals."""
    assert message.strip(), "empty error message"
    for leak in ("Traceback (most recent call last)", 'File "/', "site-packages", "/work/", ".py\", line"):
        assert leak not in message, f"internals in the message: {message[:300]!r}"


class Tally:
    """How many inputs were tried per function, and how each ended; written out at the end of the session."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.counts: dict[str, Counter] = defaultdict(Counter)
        self.examples: dict[str, dict[str, str]] = defaultdict(dict)

    def add(self, name: str, outcome: str, detail: str = "") -> None:
        self.counts[name][outcome] += 1
        if detail and outcome not in self.examples[name]:
            self.examples[name][outcome] = detail[:160]

    def write(self) -> None:
        if not self.counts:
            return
        from backends.cache import write_text

        try:  # test workers write in turn; each write is a whole file (a rename), so a read sees a whole one
            old = json.loads(self.path.read_text()) if self.path.exists() else {}
        except ValueError:
            old = {}
        old.update({n: {"tried": sum(c.values()), **c, "example_messages": self.examples[n]}
                    for n, c in self.counts.items()})
        write_text(self.path, json.dumps(old, indent=1, ensure_ascii=False))
        width = max(len(n) for n in self.counts)
        print(f"\nproperty inputs tried (also in {self.path}):")
        for n, c in sorted(self.counts.items()):
            print(f"  {n:{width}}  {sum(c.values()):4d}  " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
