"""Sweeps: a long evaluation as a list of independent items, run in-process or on Ray workers.

A *sweep kind* (:class:`Kind`) says how one evaluation runs: ``setup(options)`` loads what a worker
needs once (its models, through the registry and its cache), and ``run(state, items, seeds)`` turns a
batch of items into one JSON-able result per item. The kinds of the workbench are listed in
:data:`KINDS` ("cot", "detector", "bandits", "rag", "speculation"); each lives beside its method.

:func:`run_sweep` (or :func:`sweep_iter`, which streams progress) runs a kind over items:

* ``backend="local"`` runs the batches one after another in this process, with this process's models;
* ``backend="ray"`` starts ``workers`` Ray actors, each loading its models once, and sends them the
  batches; results come back in order of completion. Ray is local (``ray.init()`` on this machine's
  cores) unless an address is given (``address=`` or ``WORKBENCH_RAY_ADDRESS``). Without Ray installed
  or reachable, the sweep runs in-process with the same results and a note saying so.

What makes the two backends agree, whatever the worker count:

* batches are fixed slices of the item list (``batch_size`` is part of the sweep's identity), so an
  item always runs beside the same neighbours (int8 activations are quantised per batch);
* each item's seed is derived from the sweep's seed and the item itself (:func:`item_seed`), never from
  the worker or the order of completion;
* every result goes through a JSON round trip, as it would through the results file.

:func:`worker_pool` is the other shape of parallel work: workers that keep their state between rounds
(LTE's LoRA heads with their optimizers, merged on the driver after each round). ``pool.map(calls)`` sends
``calls[w]`` to worker ``w``; there is no results file and no retry, since a worker's state cannot be rebuilt
elsewhere: a worker that fails ends the run with its message.

Failures: an item whose batch raises is run again on its own; an item that fails twice is reported in
``failed`` with its message and never silently dropped. A worker process that dies has its batch sent
again to a new worker. Stopping (``should_stop``, a time budget, or closing the generator) keeps the
results so far: each finished batch is appended to a results file under the cache
(``<cache>/sweeps/<kind>-<key>.jsonl``), keyed by item, and ``resume=True`` takes them from there.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from backends.cache import folder_bytes
from backends.config import InputError, check_count, check_number
from backends.decoding import Deadline

ROOT = Path(__file__).resolve().parent.parent
FORMAT = 1  # bump when the results file's layout changes
BACKENDS = ("local", "ray")

# name -> "module:attribute" of its Kind; imported only when a sweep of that kind runs.
KINDS: dict[str, str] = {
    "cot": "backends.cot_decoding:SWEEP",
    "detector": "backends.detector:SWEEP",
    "bandits": "backends.bandits.sweep:SWEEP",
    "rag": "backends.rag.evaluation:SWEEP",
    "speculation": "backends.early_exit:SWEEP",
    "lte": "backends.lte:SWEEP",  # a worker pool (worker_pool): LTE's LoRA heads, kept on their workers
}
# Environment a worker process needs to see what this process sees (profile, cache, offline hubs ...).
FORWARDED_ENV_PREFIXES = ("WORKBENCH_", "HF_", "TRANSFORMERS_")


@dataclass(frozen=True)
class Kind:
    """How one kind of sweep runs. ``setup`` and ``run`` must be module-level functions (workers import them).

    * ``setup(options) -> state``: once per worker (or once in-process); loads models through the registry.
    * ``run(state, items, seeds) -> results``: one JSON-able result per item, in order. ``seeds[i]`` is item
      i's own seed; a kind whose items must share randomness (the bandits' common reward tables) reads the
      sweep's seed from its options instead.
    * ``models(options) -> names``: the registry models a worker loads (for the memory check).
    * ``version``: part of the results file's key; bump it when a result's meaning changes.
    * ``defaults() -> options`` and ``required``: the options a sweep of this kind takes. A missing option takes its
      default; a missing required one, or one the kind does not know, is refused with a message that names it (and
      ``builder``, the function that makes valid options) before any worker starts. A kind with neither takes any
      options as given.
    """

    name: str
    setup: Callable[[dict], Any]
    run: Callable[[Any, list[dict], list[int]], list[Any]]
    models: Callable[[dict], list[str]] = lambda options: []
    version: str = "1"
    batch_size: int = 1  # items per batch when the caller does not say
    defaults: Callable[[], dict] | None = None
    required: tuple[str, ...] = ()
    builder: str = ""  # e.g. "backends.cot_decoding.sweep_options(model, k=...)", named in the messages

    def complete(self, options: dict | None) -> dict:
        """``options`` with the kind's defaults filled in; a missing required option or an unknown one is an
        :class:`InputError` that names it."""
        given = dict(options or {})
        defaults = self.defaults() if self.defaults is not None else {}
        known = set(defaults) | set(self.required)
        how = f" Build them with {self.builder}." if self.builder else ""
        if known:
            unknown = sorted(map(str, set(given) - known))
            if unknown:
                raise InputError(f"Unknown option{'s' * (len(unknown) > 1)} for the {self.name!r} sweep: "
                                 f"{', '.join(unknown)}; valid: {', '.join(sorted(known))}.{how}")
        missing = [k for k in self.required if k not in given]
        if missing:
            raise InputError(f"The {self.name!r} sweep needs the option{'s' * (len(missing) > 1)} "
                             f"{', '.join(missing)}.{how}")
        return {**defaults, **given}


def register_kind(name: str, path: str) -> None:
    """Make ``"module:attribute"`` (a :class:`Kind`) runnable as ``name`` (tests and plug-ins)."""
    KINDS[name] = path


def kind_of(name: str) -> Kind:
    if name not in KINDS:
        raise InputError(f"Unknown sweep {name!r}; valid: {', '.join(sorted(KINDS))}.")
    module, _, attr = KINDS[name].partition(":")
    kind = getattr(importlib.import_module(module), attr)
    if not isinstance(kind, Kind):
        raise TypeError(f"{KINDS[name]} is not a sweeps.Kind")
    return kind


# ----- identity, seeds and the results file ----------------------------------------------------------
def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_jsonable, ensure_ascii=False)


def _jsonable(obj: Any) -> Any:
    """numpy scalars and arrays, tuples, sets and dataclasses as plain JSON values."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(obj)
    raise TypeError(f"a sweep result must be JSON-able, got {type(obj).__name__}")


def round_trip(obj: Any) -> Any:
    """``obj`` as it reads back from the results file (tuples become lists, numpy values plain numbers)."""
    return json.loads(json.dumps(obj, default=_jsonable, allow_nan=True))


def item_key(item: Any) -> str:
    """An item's identity: a hash of its canonical JSON (equal items share it, and their result)."""
    return hashlib.sha256(_canonical(item).encode()).hexdigest()[:20]


def item_seed(seed: int, key: str) -> int:
    """Item ``key``'s own seed in a sweep seeded ``seed``: the same whoever runs it, and in whatever order."""
    return int.from_bytes(hashlib.sha256(f"{int(seed)}/{key}".encode()).digest()[:4], "big") & 0x7FFFFFFF


def sweep_key(kind: Kind, options: dict, seed: int, batch_size: int) -> str:
    from backends import models

    reg = models.registry()
    ident = {"format": FORMAT, "kind": kind.name, "version": kind.version, "options": options, "seed": int(seed),
             "batch": int(batch_size), "profile": reg.profile, "weights": reg.weights}
    return hashlib.sha256(_canonical(ident).encode()).hexdigest()[:16]


def results_dir() -> Path:
    from backends import models

    return models.registry().cache_dir / "sweeps"


def read_results(path: Path) -> dict[str, Any]:
    """Item key -> result from a results file; lines cut short by a killed writer are skipped."""
    out: dict[str, Any] = {}
    if not path.exists():
        return out
    with path.open(encoding="utf-8") as f:
        for line in f:
            try:
                rec = json.loads(line)
                out[rec["key"]] = rec["result"]
            except (ValueError, KeyError, TypeError):
                continue
    return out


def _append(path: Path, rows: list[tuple[str, Any]]) -> None:
    """Append finished items in one write (a line per item; O_APPEND keeps concurrent writers' lines whole)."""
    if not rows:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not _canonical: a result keeps its fields' order, so a resumed run reads back what a fresh one computed
    data = "".join(json.dumps({"key": k, "result": r}, default=_jsonable, ensure_ascii=False) + "\n"
                   for k, r in rows).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


# ----- the result and progress ------------------------------------------------------------------------
@dataclass
class Progress:
    """A snapshot while a sweep runs (and, with ``result`` set, at its end)."""

    done: int  # items finished (results and failures), including those taken from the results file
    total: int
    failed: int
    resumed: int  # items taken from an earlier run's results file
    seconds: float
    workers: int  # workers running now
    backend: str
    message: str = ""
    result: "SweepResult | None" = None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def throughput(self) -> float:
        """Items per second computed in this run (resumed items excluded)."""
        return (self.done - self.resumed) / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        rate = self.throughput
        pace = f"{rate:.2f} items/s" if rate >= 0.1 else (f"{1 / rate:.0f} s per item" if rate > 0 else "starting")
        extra = f", {self.failed} failed" if self.failed else ""
        extra += f", {self.resumed} from an earlier run" if self.resumed else ""
        return (f"{self.done}/{self.total} items{extra} · {pace} · {self.workers} worker"
                f"{'s' if self.workers != 1 else ''} ({self.backend}) · {self.seconds:.0f} s")


@dataclass
class SweepResult:
    name: str
    results: list[Any]  # in item order; None where an item failed or was not reached
    failed: dict[int, str]  # item index -> the error's message (after one retry)
    seconds: float
    backend: str  # "local", "ray (local, 2 CPUs)" or "ray (ADDRESS)"
    workers: int
    note: str = ""  # why the backend or worker count differs from what was asked, if it does
    stopped: str = ""  # "", "stopped" or "time cap": items not reached are None and not in failed
    resumed: int = 0
    path: str = ""  # the results file
    worker_memory_mb: list[float] = field(default_factory=list)  # resident memory of each worker after setup
    setup_seconds: list[float] = field(default_factory=list)  # each worker's setup (model loads)

    @property
    def complete(self) -> bool:
        return not self.stopped and not self.failed

    def missing(self) -> list[int]:
        """Indices of the items not reached (a stopped run): no result and no failure."""
        return [i for i, r in enumerate(self.results) if r is None and i not in self.failed]

    def summary(self) -> dict:
        """How the sweep went, for an evaluation's ``sweep`` field (``failed_items``: index -> message)."""
        return {"sweep": self.name, "items": len(self.results), "failed": len(self.failed),
                "failed_items": dict(self.failed),
                "stopped": self.stopped, "resumed": self.resumed, "seconds": round(self.seconds, 2),
                "backend": self.backend, "workers": self.workers, "note": self.note,
                "worker_memory_mb": self.worker_memory_mb, "setup_seconds": self.setup_seconds}


# ----- what runs in a worker (or in-process) ------------------------------------------------------
def _run_batch(kind: Kind, state: Any, items: list[dict], seeds: list[int], solo: bool) -> list[tuple[str, Any]]:
    """[("ok", result) | ("error", message)] per item. A batch that raises is run again item by item, so
    one bad item does not take its neighbours down; ``solo`` runs item by item from the start (a retry)."""
    if not solo or len(items) == 1:
        try:
            out = kind.run(state, items, seeds)
            if len(out) != len(items):
                raise RuntimeError(f"sweep {kind.name!r} returned {len(out)} results for {len(items)} items")
            return [("ok", round_trip(r)) for r in out]
        except Exception as e:  # noqa: BLE001 - reported per item
            if len(items) == 1:
                return [("error", _message(e))]
    res = []
    for it, s in zip(items, seeds):
        try:
            res.append(("ok", round_trip(kind.run(state, [it], [s])[0])))
        except Exception as e:  # noqa: BLE001
            res.append(("error", _message(e)))
    return res


def _message(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if not isinstance(e, InputError) else str(e)


def _rss_mb() -> float:
    from backends.memory import rss_bytes

    rss = rss_bytes()
    return float("nan") if rss is None else rss / 2**20


class SetupError(InputError):
    """A worker could not set up (a model that does not load, bad options): the sweep ends with its message."""


class Worker:
    """A Ray actor: sets its process up like the driver's, loads its models once, runs batches.

    A failed setup is kept and raised by every ``run`` as :class:`SetupError`, rather than killing the actor
    (which Ray would report as a dead process, not as the reason). :meth:`prepare` sets an idle worker up for
    another sweep (see :class:`_RayPool`): the models it already loaded stay loaded in its registry."""

    def __init__(self, kind_name: str, kind_path: str, options: dict, recipe: dict, env: dict[str, str],
                 threads: int):
        self.prepare(kind_name, kind_path, options, recipe, env, threads)

    def prepare(self, kind_name: str, kind_path: str, options: dict, recipe: dict, env: dict[str, str],
                threads: int) -> dict:
        t0 = time.perf_counter()
        # See what the driver sees: its environment (and nothing a previous sweep's driver set), code, kinds,
        # registry and threads.
        for k in [k for k in os.environ if k.startswith(FORWARDED_ENV_PREFIXES) and k not in env]:
            del os.environ[k]
        os.environ.update(env)
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        KINDS[kind_name] = kind_path
        _apply_recipe(recipe)
        import torch

        torch.set_num_threads(int(threads))
        self.error, self.kind, self.state = "", None, None
        try:
            self.kind = kind_of(kind_name)
            self.state = self.kind.setup(options)
        except Exception as e:  # noqa: BLE001 - reported by run()
            self.error = _message(e)
        self.setup_seconds = time.perf_counter() - t0
        self.memory_mb = _rss_mb()
        return self.info()

    def info(self) -> dict:
        return {"pid": os.getpid(), "memory_mb": self.memory_mb, "setup_s": self.setup_seconds, "error": self.error}

    def run(self, items: list[dict], seeds: list[int], solo: bool = False) -> list[tuple[str, Any]]:
        if self.error:
            raise SetupError(self.error)
        return _run_batch(self.kind, self.state, items, seeds, solo)

    def call(self, item: Any, seed: int) -> Any:
        """One call of a worker pool: the kind's ``run`` on one item, with its exceptions as they are."""
        if self.error:
            raise SetupError(self.error)
        return self.kind.run(self.state, [item], [seed])[0]


def registry_recipe() -> dict:
    """What a worker needs to build a registry like this process's: profile, precision, slots, added models."""
    from backends import models

    reg = models.registry()
    builtin = {s.name for s in models.BUILTIN_SPECS}
    extra = [s for name, s in reg._specs.items() if name not in builtin]
    return {"profile": reg.profile, "weights": reg.weights, "slots": dict(reg.slots), "extra": extra,
            "cache_dir": str(reg.cache_dir), "public": reg.public}


def _apply_recipe(recipe: dict) -> None:
    from backends import models

    reg = models.registry()
    if (reg.profile, reg.weights, str(reg.cache_dir)) != (recipe["profile"], recipe["weights"], recipe["cache_dir"]):
        reg = models.configure(recipe["profile"], weights=recipe["weights"], cache_dir=recipe["cache_dir"],
                               public=recipe["public"])
    for spec in recipe["extra"]:
        if spec.name not in reg._specs:
            reg.register(spec)
    reg.slots.update(recipe["slots"])


def _forwarded_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV_PREFIXES)}


# ----- planning workers ----------------------------------------------------------------------------
def memory_per_worker(names: Sequence[str]) -> float:
    """Bytes one worker needs: each model's size in memory (measured where this process has it loaded,
    else its converted cache entry on disk, an upper bound) plus about 0.8 GB for Python, torch and
    transformers themselves."""
    from backends import models

    reg = models.registry()
    total = 0.8e9
    for name in names:
        entry = reg._entries.get(name)
        if entry is not None and entry.loaded is not None:
            total += entry.loaded.memory_bytes * 1.2
            continue
        spec = reg.spec(name)
        entry = reg.cache_entry(spec.base and reg.spec(spec.base) or spec)
        total += folder_bytes(entry) or (spec.gguf_bytes * 2) or 1e9
    return total


def plan_workers(requested: int, names: Sequence[str], *, cores: int | None = None,
                 available: float | None = None) -> tuple[int, str]:
    """How many local workers to start: at most one per core, and only as many as fit in free memory
    (so two are never started where one model barely fits). Returns the count and a note when it is fewer."""
    cores = cores or os.cpu_count() or 1
    if available is None:
        from backends.training import free_memory

        available = free_memory()
    need = memory_per_worker(names)
    fit = int((available * 0.85) // need)
    n = max(1, min(int(requested), cores, fit))
    why = []
    if n < requested and requested > cores:
        why.append(f"this machine has {cores} cores")
    if fit < requested:
        why.append(f"each worker needs about {need / 1e9:.1f} GB and {available / 1e9:.1f} GB is free")
    note = f"{requested} workers asked, {n} started: {' and '.join(why)}." if n < requested else ""
    return n, note


# ----- Ray ----------------------------------------------------------------------------------------
def ray_address(address: str | None = None) -> str | None:
    return address or os.environ.get("WORKBENCH_RAY_ADDRESS") or None


def _ray(address: str | None) -> tuple[Any | None, str, bool]:
    """The ray module, initialised (locally unless an address is set), or None and why not; and whether this
    call started (or connected) it, so that the caller stops it when done. A Ray the caller started itself
    (``ray.init()``, as the Ray tests do) is used as it is and left running."""
    try:
        import ray
    except ImportError:
        return None, "Ray is not installed (pip install ray), so the sweep ran in-process", False
    if ray.is_initialized():
        return ray, "", False
    try:
        if address:
            excludes = [".git", ".venv", "tests/artifacts", "**/__pycache__", "*.pyc"]
            ray.init(address=address, runtime_env={"working_dir": str(ROOT), "excludes": excludes},
                     logging_level="WARNING", log_to_driver=False)
        else:
            # address="local": always a Ray of our own, never a cluster some `ray start` left running here
            ray.init(address="local", num_cpus=os.cpu_count() or 1, include_dashboard=False, logging_level="WARNING",
                     log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    except Exception as e:  # noqa: BLE001 - any failure to start or reach Ray falls back to in-process
        where = f"at {address}" if address else "locally"
        return (None, f"Ray could not start {where} ({type(e).__name__}: {str(e)[:200]}), so the sweep ran "
                "in-process", False)
    return ray, "", True


def shutdown_ray() -> None:
    """Stop this process's Ray (local workers and, for a local cluster, Ray itself)."""
    try:
        import ray
    except ImportError:
        return
    _idle.clear()  # their processes end with Ray
    if ray.is_initialized():
        ray.shutdown()


# ----- running -------------------------------------------------------------------------------------
ProgressFn = Callable[[float, str], None]


def run_sweep(name: str, items: Sequence[dict], options: dict | None = None, *, workers: int = 1,
              backend: str = "local", seed: int = 0, batch_size: int | None = None, resume: bool = False,
              address: str | None = None, time_budget_s: float | None = None,
              should_stop: Callable[[], bool] | None = None, progress: ProgressFn | None = None,
              results_path: str | Path | None = None, threads: int | None = None,
              local_state: Any = None) -> SweepResult:
    """Run sweep ``name`` over ``items`` and return its :class:`SweepResult` (see :func:`sweep_iter`)."""
    last = None
    for p in sweep_iter(name, items, options, workers=workers, backend=backend, seed=seed, batch_size=batch_size,
                        resume=resume, address=address, time_budget_s=time_budget_s, should_stop=should_stop,
                        results_path=results_path, threads=threads, local_state=local_state):
        last = p
        if progress is not None and p.result is None:
            progress(p.fraction, p.line())
    assert last is not None and last.result is not None
    return last.result


def sweep_iter(name: str, items: Sequence[dict], options: dict | None = None, *, workers: int = 1,
               backend: str = "local", seed: int = 0, batch_size: int | None = None, resume: bool = False,
               address: str | None = None, time_budget_s: float | None = None,
               should_stop: Callable[[], bool] | None = None, results_path: str | Path | None = None,
               threads: int | None = None, local_state: Any = None) -> Iterator[Progress]:
    """Run a sweep, yielding a :class:`Progress` as batches finish; the last one carries ``result``.

    * ``options``: the kind's settings (JSON-able: model names, not loaded models), part of the results key.
    * ``workers``/``backend``/``address``: see the module's docstring. ``threads``: torch threads per Ray worker
      (default: this machine's cores shared out among the workers).
    * ``resume``: take the items already in the results file instead of running them again; without it the
      run starts a fresh file.
    * ``time_budget_s``/``should_stop``/closing the generator: stop between batches, keeping what finished.
    * ``local_state``: in-process only, a ready ``setup`` result (a caller that holds its loaded models).
    """
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise InputError(f"Unknown backend {backend!r}; valid: {', '.join(BACKENDS)}.")
    workers = check_count(workers, what="workers", low=1, high=1024)
    if time_budget_s is not None:
        time_budget_s = check_number(time_budget_s, what="time_budget_s", low=0, high=1e7)
    run = _Run.prepare(name, items, options, seed=seed, batch_size=batch_size, resume=resume,
                       results_path=results_path)
    if backend == "ray" and run.todo:
        from backends.models import registry

        for model in run.kind.models(run.options):
            registry().spec(model)  # workers load models by registry name: any other is refused here, clearly
    deadline, t0 = Deadline(time_budget_s), time.perf_counter()
    addr = ray_address(address)
    ray, note, started = _ray(addr) if backend == "ray" and run.todo else (None, "", False)
    used = "local" if ray is None else f"ray ({addr})" if addr else f"ray (local, {os.cpu_count()} CPUs)"

    def snapshot(message: str, live: int, result: SweepResult | None = None) -> Progress:
        return Progress(run.done(), len(run.items), len(run.failed), run.resumed, time.perf_counter() - t0,
                        live, used, message, result)

    stopped, n_workers = "", 0
    try:
        yield snapshot("starting", 0)
        if run.todo:
            if ray is None:
                n_workers, runner = 1, _local_batches(run, local_state)
            else:
                n_workers, plan_note = (plan_workers(workers, run.kind.models(run.options)) if not addr
                                        else (workers, ""))
                note = " ".join(x for x in (note, plan_note) if x)
                runner = _RayPool(ray, run, n_workers, threads, bool(addr), keep=not started).batches()
            try:
                for live in runner:
                    stopped = ("stopped" if should_stop is not None and should_stop()
                               else "time cap" if deadline.expired else "")
                    if stopped:
                        break
                    yield snapshot("", live)
            finally:
                runner.close()
    finally:
        if started:  # a Ray this sweep started ends with it: no Ray processes left behind in the app between sweeps
            ray.shutdown()
    res = SweepResult(name, run.results, dict(sorted(run.failed.items())), time.perf_counter() - t0, used,
                      n_workers, note, stopped, run.resumed, str(run.path), run.memory, run.setup_seconds)
    yield snapshot(stopped or "done", n_workers, res)


@dataclass
class _Run:
    """One sweep's items, seeds, batches and results so far (shared by both backends)."""

    name: str
    kind: Kind
    options: dict
    items: list[dict]
    keys: list[str]
    seeds: list[int]
    todo: list[list[int]]  # batches (item indices) still to run
    results: list[Any]
    resumed: int
    path: Path
    failed: dict[int, str] = field(default_factory=dict)
    memory: list[float] = field(default_factory=list)  # per worker, MB after setup
    setup_seconds: list[float] = field(default_factory=list)

    @classmethod
    def prepare(cls, name: str, items: Sequence[dict], options: dict | None, *, seed: int, batch_size: int | None,
                resume: bool, results_path: str | Path | None) -> "_Run":
        kind = kind_of(name)
        if not isinstance(items, (list, tuple)) or not all(isinstance(it, dict) for it in items):
            raise InputError("A sweep's items must be a list of dicts (JSON-able values).")
        if not items:
            raise InputError("The sweep has no items.")
        if options is not None and not isinstance(options, dict):
            raise InputError(f"A sweep's options must be a dict, got {type(options).__name__}.")
        options = kind.complete(options)
        try:
            items, options = round_trip([dict(it) for it in items]), round_trip(options)
            _canonical([items, options]).encode("utf-8")  # keys hash UTF-8: a lone surrogate has none
        except UnicodeEncodeError:
            raise InputError("A sweep's items and options must be valid Unicode text (a lone surrogate such as "
                             "\\ud800 is not).") from None
        except (TypeError, ValueError) as e:
            raise InputError(f"A sweep's items and options must be JSON-able: {e}") from None
        batch = check_count(batch_size or kind.batch_size, what="batch_size", low=1, high=10_000)
        seed = check_count(seed, what="seed", low=0, high=2**63)
        keys = [item_key(it) for it in items]
        path = Path(results_path or results_dir() / f"{name}-{sweep_key(kind, options, seed, batch)}.jsonl")
        earlier = read_results(path) if resume else {}
        if not resume and path.exists():
            path.unlink()  # a fresh run starts a fresh file (a resumed one appends to it)
        results: list[Any] = [None] * len(items)
        todo, resumed = [], 0
        for start in range(0, len(items), batch):
            b = list(range(start, min(start + batch, len(items))))
            if all(keys[i] in earlier for i in b):  # a batch is resumed whole, or run again whole
                for i in b:
                    results[i] = earlier[keys[i]]
                resumed += len(b)
            else:
                todo.append(b)
        return cls(name, kind, options, items, keys, [item_seed(seed, k) for k in keys], todo, results, resumed,
                   path)

    def done(self) -> int:
        return sum(r is not None for r in self.results) + len(self.failed)

    def batch(self, idx: list[int]) -> tuple[list[dict], list[int]]:
        return [self.items[i] for i in idx], [self.seeds[i] for i in idx]

    def record(self, idx: list[int], out: list[tuple[str, Any]], retry: bool) -> list[int]:
        """Store a batch's results (appending them to the results file); returns the first failures, to retry."""
        again, rows = [], []
        for i, (status, value) in zip(idx, out):
            if status == "ok":
                self.results[i] = value
                self.failed.pop(i, None)
                rows.append((self.keys[i], value))
            elif retry:
                self.failed[i] = value
            else:
                again.append(i)
        _append(self.path, rows)
        return again


def _local_batches(run: _Run, local_state: Any) -> Iterator[int]:
    """Run the batches in this process; yields 1 (the live worker count) after each."""
    t0 = time.perf_counter()
    state = local_state if local_state is not None else run.kind.setup(run.options)
    run.setup_seconds, run.memory = [round(time.perf_counter() - t0, 2)], [round(_rss_mb(), 1)]
    for b in run.todo:
        again = run.record(b, _run_batch(run.kind, state, *run.batch(b), False), retry=False)
        if again:
            run.record(again, _run_batch(run.kind, state, *run.batch(again), True), retry=True)
        yield 1


# Workers kept between sweeps on a Ray this module did not start (a script's ray.init(), the Ray tests): the next
# sweep sets them up again (Worker.prepare) instead of starting processes that import torch and load the models
# once more. Keyed by the Ray job (a new ray.init() is a new job) and the CPUs each holds; idle workers of another
# shape are ended before new ones start, so that they never hold the CPUs a sweep waits for.
_idle: dict[tuple[str, int], list[Any]] = {}


def _job(ray: Any) -> str:
    try:
        return str(ray.get_runtime_context().get_job_id())
    except Exception:  # noqa: BLE001 - no job: nothing to reuse
        return ""


def _take_idle(ray: Any, cpus: int, n: int) -> list[Any]:
    """Up to ``n`` idle workers of this job with ``cpus`` CPUs each; every other idle worker is ended."""
    job = _job(ray)
    taken = _idle.pop((job, cpus), [])[:n] if job else []
    for key in list(_idle):
        for a in _idle.pop(key):
            with contextlib.suppress(Exception):
                ray.kill(a)
    return taken


def release_idle_workers() -> None:
    """End the idle workers this process keeps on a Ray it did not start, so that their CPUs are free for another
    driver's jobs (a script, or a second process sending sweeps to the same Ray)."""
    try:
        import ray
    except ImportError:
        return
    if ray.is_initialized():
        _take_idle(ray, 0, 0)
    _idle.clear()


class _RayPool:
    """``n`` Ray actors, one batch in flight on each. A dead actor's batch goes back to the queue (as its
    items' first try, so a second death fails them) and a new actor takes its place; a failed setup ends the
    sweep with its message. With ``keep`` (a Ray the caller started), idle workers of an earlier sweep are set up
    again instead of starting new processes, and this sweep's workers are kept for the next one."""

    def __init__(self, ray: Any, run: _Run, n: int, threads: int | None, remote: bool, keep: bool = False):
        from collections import deque

        self.ray, self.run, self.n, self.keep = ray, run, n, keep
        if remote:  # the cluster's machines, not this one, set the share: WORKBENCH_RAY_CPUS_PER_WORKER (1)
            cpus = int(os.environ.get("WORKBENCH_RAY_CPUS_PER_WORKER") or 1)
        else:
            cpus = max(1, (os.cpu_count() or 1) // n)
        self.threads = threads or cpus
        self.cpus = cpus
        self.actor_cls = ray.remote(num_cpus=cpus)(Worker)
        self.recipe, self.env = registry_recipe(), _forwarded_env()
        self.queue: deque[tuple[list[int], bool]] = deque((b, False) for b in run.todo)  # (indices, a retry?)
        self.actors: list[Any] = []
        self.infos: list[Any] = []
        self.running: dict[Any, tuple[Any, list[int], bool]] = {}  # future -> (actor, indices, a retry?)
        self.restarts = 0
        self.idle = _take_idle(ray, cpus, n) if keep else []

    def start(self) -> None:
        args = (self.run.name, KINDS[self.run.name], self.run.options, self.recipe, self.env, self.threads)
        if self.idle:  # set up for this sweep; its run() calls queue behind the setup on the same actor
            a = self.idle.pop()
            self.infos.append(a.prepare.remote(*args))
        else:
            a = self.actor_cls.remote(*args)
            self.infos.append(a.info.remote())
        self.actors.append(a)
        self.give(a)

    def give(self, actor: Any) -> None:
        if self.queue:
            idx, retry = self.queue.popleft()
            self.running[actor.run.remote(*self.run.batch(idx), retry)] = (actor, idx, retry)

    def batches(self) -> Iterator[int]:
        try:
            for _ in range(self.n):
                self.start()
            while self.running:
                ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=0.5)
                if ready:
                    self.collect(ready[0])
                yield len(self.actors)
            self.read_infos(timeout=10)
            if self.keep and not self.running:  # a whole run: its workers are idle and healthy
                job = _job(self.ray)
                if job:
                    _idle.setdefault((job, self.cpus), []).extend(self.actors)
                    self.actors = []
        finally:
            for a in self.actors + self.idle:
                try:
                    self.ray.kill(a)
                except Exception:  # noqa: BLE001 - already gone
                    pass

    def collect(self, fut: Any) -> None:
        ray, run = self.ray, self.run
        actor, idx, retry = self.running.pop(fut)
        try:
            out = ray.get(fut)
        except ray.exceptions.RayTaskError as e:
            if type(e.cause).__name__ == "SetupError":
                raise SetupError(f"A sweep worker could not set up: {e.cause}") from None
            out = [("error", _message(e.cause))] * len(idx)
        except ray.exceptions.RayActorError:  # the process died (killed, out of memory)
            self.actors.remove(actor)
            if retry:
                for i in idx:
                    run.failed[i] = "the worker process died while running this item, twice"
            else:
                self.queue.appendleft((idx, True))
            self.restarts += 1
            if self.restarts > 2 * self.n + 2:
                raise InputError(f"Sweep {run.name!r}: workers kept dying ({self.restarts} restarts); see the Ray "
                                 "logs (/tmp/ray/session_latest/logs).") from None
            self.start()
            return
        again = run.record(idx, out, retry)
        if again:
            self.queue.append((again, True))
        self.give(actor)

    def read_infos(self, timeout: float) -> None:
        """Each worker's memory and setup time, for the report (a replaced worker's figures may be missing)."""
        for f in self.infos:
            try:
                got = self.ray.get(f, timeout=timeout)
            except Exception:  # noqa: BLE001 - figures for the report only
                continue
            self.run.memory.append(round(got["memory_mb"], 1))
            self.run.setup_seconds.append(round(got["setup_s"], 2))


# ----- a pool of workers that keep their state ---------------------------------------------------------
class WorkerPool:
    """Workers of one kind, each set up once, whose states persist between :meth:`map` calls.

    ``backend`` is "ray" or "local" (the states in this process, calls run one after another); ``workers`` may
    be fewer than asked (cores, free memory), so callers share their work out by ``pool.workers``; ``note``
    says why it ran in-process or with fewer workers. ``seeds[w]`` is worker ``w``'s own seed."""

    def __init__(self, kind: Kind, options: dict, workers: int, seed: int, note: str = "") -> None:
        self.kind, self.options, self.workers, self.note = kind, options, workers, note
        self.seeds = [item_seed(seed, f"worker-{w}") for w in range(workers)]
        self.backend, self.calls = "local", 0
        self.setup_seconds: list[float] = []
        self.worker_memory_mb: list[float] = []
        self._states: list[Any] = []
        self._ray: Any = None
        self._actors: list[Any] = []

    def _start_local(self) -> None:
        for _ in range(self.workers):
            t0 = time.perf_counter()
            self._states.append(self.kind.setup(self.options))
            self.setup_seconds.append(round(time.perf_counter() - t0, 2))
        self.worker_memory_mb = [round(_rss_mb(), 1)]

    def _start_ray(self, ray: Any, threads: int | None, remote: bool) -> None:
        cpus = (int(os.environ.get("WORKBENCH_RAY_CPUS_PER_WORKER") or 1) if remote
                else max(1, (os.cpu_count() or 1) // self.workers))
        _take_idle(ray, cpus, 0)  # idle sweep workers would hold the CPUs these wait for
        actor_cls = ray.remote(num_cpus=cpus)(Worker)
        recipe, env = registry_recipe(), _forwarded_env()
        self._ray, self.backend = ray, "ray"
        self._actors = [actor_cls.remote(self.kind.name, KINDS[self.kind.name], self.options, recipe, env,
                                         threads or cpus) for _ in range(self.workers)]
        infos = self._get([a.info.remote() for a in self._actors])
        for w, info in enumerate(infos):
            if info["error"]:
                raise SetupError(f"Worker {w} of {self.kind.name!r} could not set up: {info['error']}")
        self.setup_seconds = [round(i["setup_s"], 2) for i in infos]
        self.worker_memory_mb = [round(i["memory_mb"], 1) for i in infos]

    def _get(self, futures: list[Any]) -> list[Any]:
        ray = self._ray
        try:
            return ray.get(futures)
        except ray.exceptions.RayTaskError as e:
            cause = getattr(e, "cause", None)
            if isinstance(cause, Exception):
                raise cause from None
            raise InputError(f"A {self.kind.name!r} worker failed: {e}") from None
        except ray.exceptions.RayActorError as e:
            raise InputError(f"A {self.kind.name!r} worker process died (killed or out of memory); its state is "
                             f"lost, so the run stops here. {str(e)[:200]}") from None

    def map(self, calls: Sequence[Any]) -> list[Any]:
        """Run ``calls[w]`` on worker ``w`` (all at once on Ray) and return the results in order."""
        if not isinstance(calls, (list, tuple)) or len(calls) != self.workers:
            raise InputError(f"A worker pool of {self.workers} takes one call per worker, got "
                             f"{len(calls) if isinstance(calls, (list, tuple)) else type(calls).__name__}.")
        self.calls += 1
        if self._ray is None:
            return [self.kind.run(st, [c], [s])[0] for st, c, s in zip(self._states, calls, self.seeds)]
        return self._get([a.call.remote(c, s) for a, c, s in zip(self._actors, calls, self.seeds)])

    def close(self) -> None:
        for a in self._actors:
            try:
                self._ray.kill(a)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._actors, self._states = [], []


@contextmanager
def worker_pool(name: str, options: dict | None = None, *, workers: int = 1, backend: str = "local",
                address: str | None = None, threads: int | None = None, seed: int = 0) -> Iterator[WorkerPool]:
    """A :class:`WorkerPool` of kind ``name``: ``workers`` Ray actors (local Ray, or the cluster at ``address`` /
    ``WORKBENCH_RAY_ADDRESS``), or their states in this process for ``backend="local"`` and when Ray cannot
    start (``pool.note`` says why). Options must be JSON-able (model names, not models); calls and results may
    hold anything picklable (numpy arrays). A Ray this pool started is stopped when the block ends."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise InputError(f"Unknown backend {backend!r}; valid: {', '.join(BACKENDS)}.")
    workers = check_count(workers, what="workers", low=1, high=1024)
    seed = check_count(seed, what="seed", low=0, high=2**63)
    kind = kind_of(name)
    if options is not None and not isinstance(options, dict):
        raise InputError(f"A pool's options must be a dict, got {type(options).__name__}.")
    try:
        options = round_trip(options or {})
    except (TypeError, ValueError) as e:
        raise InputError(f"A pool's options must be JSON-able: {e}") from None
    addr = ray_address(address)
    ray, note, started = (None, "", False)
    if backend == "ray":
        from backends.models import registry

        for model in kind.models(options):
            registry().spec(model)  # workers load models by registry name: any other is refused here, clearly
        ray, note, started = _ray(addr)
        note = note.replace("the sweep ran", "the workers ran")
    plan_note = ""
    if ray is not None and not addr:
        workers, plan_note = plan_workers(workers, kind.models(options))
    pool = WorkerPool(kind, options, workers, seed, " ".join(x for x in (note, plan_note) if x))
    try:
        if ray is None:
            pool._start_local()
        else:
            pool._start_ray(ray, threads, bool(addr))
        yield pool
    finally:
        pool.close()
        if started:
            ray.shutdown()


def progress_markdown(p: Progress) -> str:
    """One line for a tab's live progress view."""
    extra = p.message if p.message not in ("", "done", "starting") else ""
    return f"**Sweep:** {p.line()}" + (f" ({extra})" if extra else "")


def check_backend(backend: Any, workers: Any, max_workers: int = 8) -> tuple[str, int]:
    """A tab's backend choice and worker count, validated (the Radio's labels or the backend names)."""
    b = str(backend or "local").lower()
    b = "ray" if b.startswith("ray") else "local" if b.startswith(("local", "in-process", "in process")) else b
    if b not in BACKENDS:
        raise InputError(f"Unknown backend {backend!r}; choose in-process or Ray.")
    return b, check_count(workers, what="Workers", low=1, high=max_workers)


__all__ = ["KINDS", "BACKENDS", "Kind", "Progress", "SweepResult", "Worker", "register_kind", "kind_of", "run_sweep",
           "release_idle_workers", "sweep_iter", "item_key", "item_seed", "round_trip", "read_results", "plan_workers",
           "memory_per_worker",
           "ray_address", "shutdown_ray", "progress_markdown", "check_backend", "registry_recipe", "SetupError",
           "WorkerPool", "worker_pool"]
