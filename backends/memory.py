"""The process's memory: the budget the model registry keeps its loaded models under, and what the process holds.

A free Hugging Face Space (cpu-basic) has 16 GB; the cpu profile's four models take about 7 GB once loaded, and a
user who opens every paper's tab would load more (the tiny models, a float32 copy). ``WORKBENCH_MEMORY_GB`` sets the
budget for loaded models; past it the registry unloads the least recently used models that nothing else holds
(backends/models.py). The default leaves room for Python, Gradio, torch and one request's working memory: half of
this machine's memory, at most 8 GB.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

DEFAULT_CAP_GB = 8.0
MADV_PAGEOUT = 21  # linux/mman.h
GB = 2**30


def total_bytes() -> int | None:
    """Physical memory of this machine (None where psutil cannot tell)."""
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except Exception:  # noqa: BLE001 - a figure for defaults and messages only
        return None


def budget_bytes() -> int:
    """The memory budget for loaded models: ``WORKBENCH_MEMORY_GB``, else half the machine's memory, at most 8 GB.

    A bad value raises InputError (a ValueError) with a message that names the variable."""
    from backends.config import InputError

    raw = os.environ.get("WORKBENCH_MEMORY_GB", "").strip()
    if raw:
        try:
            gb = float(raw)
        except ValueError:
            raise InputError(f"WORKBENCH_MEMORY_GB={raw!r} is not a number of gigabytes") from None
        if not 0 < gb < 1e6:
            raise InputError(f"WORKBENCH_MEMORY_GB must be a positive number of gigabytes, got {raw!r}")
        return int(gb * GB)
    total = total_bytes()
    return int(min(DEFAULT_CAP_GB * GB, total / 2 if total else DEFAULT_CAP_GB * GB))


def rss_bytes() -> int | None:
    """This process's resident memory now, else None."""
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except Exception:  # noqa: BLE001 - a figure for reports only
        return None


def peak_rss_bytes() -> int | None:
    """This process's peak resident memory so far."""
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, kilobytes on Linux
    except (ImportError, OSError):
        return None


def malloc_trim() -> bool:
    """Hand freed heap memory back to the system (glibc); False where that is not available.

    After a model is unloaded, glibc keeps most of its freed pages in the heap for reuse, so the process's RSS
    stays where it was; ``malloc_trim(0)`` returns them."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        return False


def release_file_pages(path: str | Path) -> int:
    """Drop this process's resident pages of a memory-mapped file (Linux); returns the bytes of mappings advised.

    transformers maps a safetensors file and reads the weights from it in place. After int8 quantisation most of
    those float32 weights are gone, but every page read while quantising stays resident in the mapping, so the
    process's RSS holds the whole file (4.6 GB of the 1.5B model's 6.1 GB RSS here). ``MADV_PAGEOUT`` (Linux
    5.4) hands back the clean pages of the mapping; the float32 tensors still in use there (embeddings, MLP output
    projections) are read back from the page cache when next touched. Nothing is lost: the kernel reclaims only
    pages it can read again from the file (a page written in memory would be kept; without swap it stays).
    """
    if not sys.platform.startswith("linux"):
        return 0
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        target, advised = str(Path(path).resolve()), 0
        with open("/proc/self/maps") as f:
            lines = f.readlines()
        for line in lines:
            parts = line.split(maxsplit=5)
            if len(parts) < 6 or parts[5].strip() != target:
                continue
            start, end = (int(x, 16) for x in parts[0].split("-"))
            if libc.madvise(start, end - start, MADV_PAGEOUT) == 0:
                advised += end - start
        return advised
    except (OSError, AttributeError, ValueError, TypeError):  # not a path, or no madvise here: nothing handed back
        return 0


def out_of_memory(e: BaseException) -> bool:
    """MemoryError, torch's OutOfMemoryError (CUDA), or the CPU allocator's RuntimeError."""
    return (isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError"
            or (isinstance(e, RuntimeError) and ("can't allocate memory" in str(e) or "out of memory" in str(e))))


def gb(n: float | None) -> str:
    return "?" if n is None else f"{n / GB:.1f} GB"
