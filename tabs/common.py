"""Helpers every tab uses: error handling, concurrency settings, placeholders, GPU decoration."""
from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import time
import uuid
from typing import Any, Callable, Sequence, TypeVar

import gradio as gr

from backends.config import InputError
from backends.memory import out_of_memory
from backends.models import ModelError, load_progress

log = logging.getLogger("workbench")
F = TypeVar("F", bound=Callable[..., Any])

# Heavy events (model forward passes) share one slot, so on a CPU two users never run two model
# calls at once; each waits in the queue with its position shown. Light events use the default.
HEAVY: dict[str, Any] = {"concurrency_limit": 1, "concurrency_id": "model"}

try:  # On a ZeroGPU Space, functions that touch CUDA must be decorated; elsewhere this is a no-op.
    import spaces  # type: ignore[import-not-found]

    gpu: Callable[[F], F] = spaces.GPU  # type: ignore[assignment]
except ImportError:  # the usual case: not on a Space

    def gpu(fn: F) -> F:
        return fn


def user_error(e: BaseException, where: str) -> gr.Error:
    """The gr.Error a user sees for an exception raised in the callback ``where``.

    InputError and ModelError carry user-facing messages and are shown as they are. Anything else
    is a bug: it is logged with its traceback under a short reference, and the user sees only the
    reference, never internals such as paths or stack frames.
    """
    if isinstance(e, gr.Error):
        return e
    if isinstance(e, (InputError, ModelError)):
        return gr.Error(str(e), print_exception=False)
    if out_of_memory(e):
        log.error("out of memory in %s", where, exc_info=e)
        return gr.Error("The server ran out of memory for this request. Try a shorter or smaller input.",
                        print_exception=False)
    ref = uuid.uuid4().hex[:8]
    log.error("unexpected error in %s (ref %s)", where, ref, exc_info=e)
    return gr.Error(f"Something went wrong on the server (reference {ref}). The app is still running; "
                    "try again, or report the reference.", print_exception=False)


# A streaming callback's snapshots reach the browser at most this often (the first and the last always): a training
# run evaluates every few hundred milliseconds, and each snapshot re-renders every plot of the tab, which kept a
# laptop's browser busy (one core for the DUS tab's 56 snapshots in 14 s) and its Stop button slow to respond.
STREAM_INTERVAL_S = 0.5


def paced(snapshots: Any, interval_s: float = STREAM_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> Any:
    """Yield from ``snapshots``: the first at once, then the newest at most once per ``interval_s``, and the last
    whatever the time. A snapshot ready within ``interval_s`` of the last one sent is held back, and a newer one
    replaces it (or the end sends it); a snapshot that took longer than the interval to compute is sent at once."""
    last = None
    held, holding = None, False
    try:
        for snap in snapshots:
            now = clock()
            if last is None or now - last >= interval_s:
                yield snap
                last, holding = clock(), False
            else:
                held, holding = snap, True
        if holding:
            yield held
    finally:  # closed early (Stop): close the callback's generator now, as `yield from` would, so a sweep stops
        close = getattr(snapshots, "close", None)
        if close is not None:
            close()


def guarded(fn: F) -> F:
    """Turn backend errors into clear messages for the user (see :func:`user_error`).

    Works for plain and generator callbacks: a generator's errors raised while streaming are
    turned into messages too, and its snapshots are :func:`paced`.
    """
    if inspect.isgeneratorfunction(inspect.unwrap(fn)):  # unwrap: a GPU decorator may sit in between

        @functools.wraps(fn)
        def stream(*args: Any, **kwargs: Any) -> Any:
            # No load-progress hook here: Gradio resumes a generator in other contexts (threads), where
            # a context variable set at its start cannot be reset; streaming tabs report their own.
            try:
                yield from paced(fn(*args, **kwargs))
            except Exception as e:
                raise user_error(e, fn.__name__) from None

        return stream  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with _model_loads_report_to(args, kwargs):
                return fn(*args, **kwargs)
        except Exception as e:
            raise user_error(e, fn.__name__) from None

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def _model_loads_report_to(args: tuple, kwargs: dict):
    """While a callback runs, a model it loads for the first time reports to its progress bar.

    Gradio passes a callback's ``gr.Progress`` among its arguments (positionally, where the
    parameter stands); without one, loads report nowhere, as before.
    """
    progress = next((a for a in (*args, *kwargs.values()) if isinstance(a, gr.Progress)), None)
    if progress is None:
        yield
        return
    previous = load_progress.get()
    load_progress.set(lambda f, msg: progress(f, desc=msg))
    try:
        yield
    finally:
        load_progress.set(previous)  # not reset(token): Gradio may finish a call in a copied context


class Outputs:
    """The outputs of a tab callback, named once.

    A tab declares ``RESULT = Outputs("summary", "table", "plot")``; its callback returns
    ``RESULT.pack(summary=..., table=..., plot=...)``; the event is wired with
    ``outputs=RESULT.wire(summary=md, table=df, plot=fig)``; tests read ``RESULT.unpack(result)["table"]``
    instead of counting positions. Each step checks the names, so adding an output cannot shift the others.
    """

    def __init__(self, *names: str):
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate output names in {names}")
        self.names = tuple(names)

    def _check(self, given: Any, what: str) -> None:
        if set(given) != set(self.names):
            missing, extra = set(self.names) - set(given), set(given) - set(self.names)
            raise TypeError(f"{what}: missing {sorted(missing)}, unexpected {sorted(extra)}")

    def pack(self, **values: Any) -> tuple:
        self._check(values, "Outputs.pack")
        return tuple(values[n] for n in self.names)

    def wire(self, **components: Any) -> list:
        self._check(components, "Outputs.wire")
        return [components[n] for n in self.names]

    def unpack(self, result: Sequence[Any]) -> dict[str, Any]:
        if len(result) != len(self.names):
            raise TypeError(f"expected {len(self.names)} outputs {self.names}, got {len(result)}")
        return dict(zip(self.names, result))

    def index(self, name: str) -> int:
        return self.names.index(name)

    def __len__(self) -> int:
        return len(self.names)


def placeholder(title: str, issue: int, summary: str) -> None:
    """A tab whose method has not landed yet: says so, and what it will do."""
    gr.Markdown(
        f"### {title}\n\n{summary}\n\n"
        f"*This tab is not built yet (tracked in issue #{issue}); the rest of the workbench works.*",
        elem_classes=["placeholder"],
    )


def export_csv(prefix: str, header: list[str], rows: list[list], comment: str | None = None) -> str:
    """Write rows to a new temporary CSV file (for a gr.File download) and return its path."""
    import csv
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".csv", prefix=f"{prefix}-", delete=False, newline="") as f:
        if comment:
            f.write(f"# {comment}\n")
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return f.name


def export_dicts(prefix: str, records: list[dict], comment: str | None = None) -> str:
    """Write a list of same-keyed dicts as CSV (keys of the first record as the header)."""
    header = list(records[0]) if records else []
    return export_csv(prefix, header, [[r.get(k) for k in header] for r in records], comment)


def export_json(prefix: str, obj) -> str:
    """Write an object as JSON to a new temporary file and return its path."""
    import json
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix=f"{prefix}-", delete=False) as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
    return f.name


def stream_sweep(name: str, items: list[dict], options: dict, backend: Any, workers: Any, resume: Any, *,
                 seed: int = 0, progress: Any = None, time_budget_s: float | None = None) -> Any:
    """Run a sweep for a tab: yields ``(markdown line, None)`` while it runs and ``(markdown line, SweepResult)``
    at the end. The line shows items done, throughput and workers; ``progress`` (a gr.Progress) gets the
    fraction. A tab's Stop button cancels its generator, which stops the sweep and keeps the finished items."""
    import time

    from backends import sweeps
    from backends.config import public_mode

    b, w = sweeps.check_backend(backend, workers, 2 if public_mode() else 64)  # a shared demo: two at most
    shown = (-1, 0.0)  # (items done, when) of the last update sent to the browser
    for p in sweeps.sweep_iter(name, items, options, backend=b, workers=w, resume=bool(resume), seed=seed,
                               time_budget_s=time_budget_s):
        if p.result is None and p.done == shown[0] and time.monotonic() - shown[1] < 5:
            continue  # Ray reports twice a second; the page needs news, or a sign of life every 5 s
        shown = (p.done, time.monotonic())
        if progress is not None and p.result is None:
            progress(p.fraction, desc=p.line())
        line = sweeps.progress_markdown(p)
        if p.result is not None and p.result.note:
            line += f"\n\n*{p.result.note}.*"
        yield line, p.result


def failed_note(failed: dict, noun: str) -> str:
    """"N <noun> failed and are left out: #i: why; ..." for a sweep's failed items (the first three), or ""."""
    if not failed:
        return ""
    return (f"{len(failed)} {noun} failed and are left out: "
            + "; ".join(f"#{int(i) + 1}: {m}" for i, m in list(failed.items())[:3]) + ".")
