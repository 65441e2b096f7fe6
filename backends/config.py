"""Central configuration: input limits and run-time settings shared by every tab.

Limits are enforced on the server by :func:`check_text` and friends; the UI's own ``max_length``
is only a hint to the browser. Values can be overridden by environment variables
(``WORKBENCH_MAX_TEXT_CHARS`` and so on, the field name upper-cased), and ``--public`` switches
to :data:`PUBLIC_LIMITS` for shared demos.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass


class InputError(ValueError):
    """Bad user input. Its message is shown to the user as it is, so it must say what to change."""


@dataclass(frozen=True)
class Limits:
    max_text_chars: int = 20_000  # characters accepted in one text box
    max_tokens: int = 512  # tokens scored per text (longer texts are truncated, and the user is told)
    max_new_tokens: int = 256  # tokens one generation call may produce
    max_batch_texts: int = 200  # texts in one batch request or upload
    max_upload_bytes: int = 5_000_000  # size of one uploaded file
    max_count: int = 1_000  # any other user-chosen count (arms, steps, samples, k ...)
    time_budget_s: float = 120.0  # wall-clock budget of one request before it stops itself
    max_run_s: float = 1800.0  # cap on a long experiment the user starts on purpose (a bandit run, say)


# Shared demos: shorter inputs and smaller jobs so that one visitor cannot hold the queue.
PUBLIC_LIMITS = Limits(
    max_text_chars=4_000,
    max_tokens=256,
    max_new_tokens=128,
    max_batch_texts=50,
    max_upload_bytes=1_000_000,
    max_count=200,
    time_budget_s=60.0,
    max_run_s=300.0,
)


def _from_env(base: Limits) -> Limits:
    changes = {}
    for f in dataclasses.fields(base):
        raw = os.environ.get(f"WORKBENCH_{f.name.upper()}")
        if raw is None:
            continue
        try:
            value = float(raw) if f.type == "float" else int(raw)
        except ValueError as e:
            raise InputError(f"WORKBENCH_{f.name.upper()}={raw!r} is not a number") from e
        if not value > 0:
            raise InputError(f"WORKBENCH_{f.name.upper()} must be positive, got {raw!r}")
        changes[f.name] = value
    return dataclasses.replace(base, **changes)


_public_mode = False


def set_public_mode(public: bool) -> None:
    """Switch every tab to the stricter public limits (called once by ``app.py``)."""
    global _public_mode
    _public_mode = bool(public)


def public_mode() -> bool:
    return _public_mode


def limits() -> Limits:
    """The limits in force now: public or default, with environment overrides applied."""
    return _from_env(PUBLIC_LIMITS if _public_mode else Limits())


def check_text(text: object, *, what: str = "Text", lim: Limits | None = None, allow_empty: bool = False) -> str:
    """Validate one user text and return it stripped of surrounding whitespace.

    Raises InputError for a non-string, an empty or whitespace-only text, or one over the limit.
    NUL characters are removed (tokenizers and browsers treat them inconsistently).
    """
    lim = lim or limits()
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise InputError(f"{what} must be text, got {type(text).__name__}.")
    text = clean_text(text).strip()
    if not text and not allow_empty:
        raise InputError(f"{what} is empty: type or paste some text, or pick an example.")
    if len(text) > lim.max_text_chars:
        raise InputError(
            f"{what} is {len(text):,} characters long; the limit is {lim.max_text_chars:,}. Shorten it or split it."
        )
    return text


def clean_text(text: str) -> str:
    """Remove NUL characters and replace lone surrogates with U+FFFD.

    JSON lets a client send a lone surrogate (``"\\ud800"``); Python keeps it in the string, and the
    tokenizers then fail with a TypeError instead of reading the text.
    """
    text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _short(value: object) -> str:
    """repr() of a bad value, cut to a length fit for a message."""
    r = repr(value)
    return r if len(r) <= 60 else r[:57] + "..."


def check_count(value: object, *, what: str, low: int = 1, high: int | None = None) -> int:
    """Validate a user-chosen integer (a slider or number box) against [low, high]."""
    high = limits().max_count if high is None else high
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int too large for a float
        raise InputError(f"{what} must be a whole number, got {_short(value)}.") from None
    if not math.isfinite(f) or f != int(f):
        raise InputError(f"{what} must be a whole number, got {_short(value)}.")
    n = int(f)
    if not low <= n <= high:
        raise InputError(f"{what} must be between {low} and {high}, got {_short(n)}.")
    return n


def check_number(value: object, *, what: str, low: float, high: float) -> float:
    """Validate a finite float in [low, high]."""
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{what} must be a number, got {_short(value)}.") from None
    if not math.isfinite(f) or not low <= f <= high:
        raise InputError(f"{what} must be a finite number between {low} and {high}, got {_short(value)}.")
    return f
