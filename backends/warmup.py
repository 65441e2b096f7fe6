"""Warm start: once the app serves, load the profile's models in the background, in the order the tabs need them.

On a fresh machine the first use of the cpu profile converts and quantises two Qwen models (minutes). Without a
warm-up the first visitor pays for it on their first click; with it, the models are usually ready by the time a
visitor has read the first tab. A request for a model the warm-up is loading waits for that load (the registry's
lock per model) and sees its progress; nothing is converted twice.

The warm-up stops before a model that would not fit the memory budget (backends/memory.py) next to those already
loaded, so that it never unloads one model to load the next. ``python app.py --no-warm`` (or
``WORKBENCH_WARM=0``) turns it off.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

# The slots in the order of the tabs that use them: Detector (observer, performer), CoT (base), Early exit,
# Bandits (chat), RAG (embedder, reader). Each model is loaded once, at its first slot.
ORDER = ("observer", "performer", "base", "early_exit", "chat", "embedder", "reader")


@dataclass
class Warmup:
    """The background loading of one registry's models; ``state`` says where each one is."""

    registry: object  # backends.models.ModelRegistry
    names: list[str]
    state: dict[str, str] = field(default_factory=dict)  # name -> waiting, loading: ..., ready, failed: ..., skipped
    started: float = 0.0
    finished: float = 0.0
    _thread: threading.Thread | None = None

    @classmethod
    def for_profile(cls, registry) -> "Warmup":
        names = list(dict.fromkeys(registry.slots[s] for s in ORDER if s in registry.slots))
        return cls(registry, names, {n: "waiting" for n in names})

    def start(self) -> "Warmup":
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="workbench-warmup", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        reg = self.registry
        for name in self.names:
            if reg.is_loaded(name):
                self.state[name] = "ready"
                continue
            held, budget = reg.memory_use()
            if held + reg.estimate_bytes(reg.spec(name)) > budget:
                self.state[name] = "skipped (memory budget): loads at first use"
                continue
            self.state[name] = "loading"

            def report(fraction: float, message: str, name: str = name) -> None:
                self.state[name] = f"loading: {message}"

            try:
                reg.get(name, progress=report)
                self.state[name] = "ready"
            except Exception as e:  # noqa: BLE001 - shown in the Models tab; a request will report it too
                self.state[name] = f"failed: {str(e)[:200]}"
                log.warning("warm-up of %s failed: %s", name, e)
        self.finished = time.monotonic()
        log.info("warm-up done in %.0f s: %s", self.finished - self.started,
                 ", ".join(f"{n} {s}" for n, s in self.state.items()))

    @property
    def done(self) -> bool:
        return self.finished > 0

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done

    def line(self) -> str:
        """One line for the page: what is ready, and what is loading now."""
        ready = [n for n, s in self.state.items() if s == "ready"]
        busy = next(((n, s) for n, s in self.state.items() if s.startswith("loading")), None)
        if self.done:
            skipped = [n for n, s in self.state.items() if s != "ready"]
            tail = f" ({', '.join(skipped)} at first use)" if skipped else ""
            return (f"Models ready: {len(ready)} of {len(self.state)}{tail}, prepared in "
                    f"{self.finished - self.started:.0f} s.")
        now = f"; loading {busy[0]} ({busy[1].removeprefix('loading').lstrip(': ') or 'starting'})" if busy else ""
        return (f"Preparing the models in the background: {len(ready)} of {len(self.state)} ready{now}. A tab that "
                "needs one still loading waits for it.")


_current: Warmup | None = None


def start(registry) -> Warmup:
    """Start the process's warm-up for ``registry`` (the app calls this once it serves)."""
    global _current
    _current = Warmup.for_profile(registry).start()
    return _current


def current() -> Warmup | None:
    return _current
