"""Safe on-disk caches and in-memory memos, written once for every cache in the workbench.

Every cache writes to a temporary sibling named ``.tmp-<final name>-<random>`` and renames it into place,
so a reader never sees half a file or folder, and two writers never mix their bytes. A writer killed
half-way (power off, ``kill -9``) cannot clean up: the next writer removes such leftovers once they are
older than :data:`STALE_AFTER_S`, so that a write in progress in another process is left alone.

Folders carry a manifest (``workbench-manifest.json``) recording each file's size and, where asked,
its SHA-256: :func:`check_manifest` accepts an entry only when every file matches.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Generic, Hashable, Iterator, TypeVar

MANIFEST = "workbench-manifest.json"
STALE_AFTER_S = 3600.0  # a temporary file or folder this old belongs to a process that died
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def sha256_file(path: Path, *, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def remove_stale_temporaries(folder: Path, prefix: str, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Delete what interrupted writes left in ``folder`` (names starting with ``prefix``) that is older
    than ``older_than_s``; returns what was removed."""
    removed = []
    now = time.time()
    for path in Path(folder).glob(f"{prefix}*"):
        try:
            if now - path.stat().st_mtime < older_than_s:
                continue
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            removed.append(path)
        except OSError:  # gone already, or not ours to remove
            continue
    return removed


def temporary_name(final: Path) -> Path:
    """A fresh temporary sibling of ``final``, after clearing stale ones of the same name."""
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final.parent, f".tmp-{final.name}-")
    return final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def atomic_file(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` in one rename, on error it is removed.

    >>> with atomic_file(out) as tmp:
    ...     tmp.write_bytes(data)
    """
    final = Path(path)
    tmp = temporary_name(final)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: Path | str) -> Iterator[Path]:
    """Yield a fresh temporary folder to fill; on success it replaces the folder ``path`` (an old one is
    removed first), on error it is deleted."""
    final = Path(path)
    tmp = temporary_name(final)
    tmp.mkdir()
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def build_lock(path: Path | str, timeout_s: float = 3600.0) -> Iterator[None]:
    """Hold a lock file beside ``path`` while one process builds it; others wait, then find it built.

    Threads of one process already wait on :class:`Memo` or the registry's per-name locks; this is for
    processes (the app beside a script, or test workers) that would otherwise convert the same model at once.
    The lock is the kernel's (``filelock``), so a writer that dies releases it. Callers check again for the
    finished entry after taking the lock.
    """
    from filelock import FileLock, Timeout

    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(final.parent / f".lock-{final.name}"), timeout=timeout_s)
    try:
        with lock:
            yield
    except Timeout:
        raise CacheError(f"{final.name} is being built by another process that has not finished in "
                         f"{timeout_s:.0f} s; try again later.") from None


def folder_bytes(folder: Path | str) -> int:
    """Bytes of the files under ``folder`` (0 where it does not exist)."""
    folder = Path(folder)
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.is_dir() else 0


def write_bytes(path: Path | str, data: bytes) -> Path:
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: Path | str, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: Path | str, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=1, ensure_ascii=False))


def write_pickle(path: Path | str, obj: Any) -> Path:
    """Pickle ``obj`` atomically. Only for our own cache folders: a pickle is never read from a user."""
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
    return Path(path)


def read_pickle(path: Path | str, valid: Callable[[Any], bool] = lambda obj: True) -> Any | None:
    """A pickle from our cache, or None when it is missing; a truncated, corrupt or invalid one is deleted
    (and None returned) so that the caller rebuilds it."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            obj = pickle.load(f)  # our own file in our own cache folder
        if valid(obj):
            return obj
    except FileNotFoundError:
        return None
    except Exception:  # truncated or written by another version
        pass
    p.unlink(missing_ok=True)
    return None


def write_manifest(folder: Path, *, checksums: bool = False, **fields: Any) -> dict:
    """Record every file in ``folder`` (size, and SHA-256 with ``checksums``) plus ``fields``."""
    files = {}
    for p in sorted(Path(folder).iterdir()):
        if p.is_file() and p.name != MANIFEST:
            files[p.name] = {"bytes": p.stat().st_size, **({"sha256": sha256_file(p)} if checksums else {})}
    manifest = {**fields, "files": files, "created": time.time()}
    (Path(folder) / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


class CacheError(RuntimeError):
    """A cache entry is missing, stale or corrupt: the caller rebuilds it."""


def check_manifest(folder: Path, **expected: Any) -> dict:
    """The manifest of a complete entry, or :class:`CacheError` saying what is wrong.

    Every field in ``expected`` must match, every listed file must have its size (and checksum, where one
    was recorded). A file's record is ``{"bytes": n, "sha256": h}``, or just its size ``n``."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        raise CacheError("no entry") from None
    except (OSError, ValueError) as e:
        raise CacheError(f"manifest unreadable: {e}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict) or not manifest["files"]:
        raise CacheError("manifest lists no files")
    for name, value in expected.items():
        if manifest.get(name) != value:
            raise CacheError(f"manifest {name} is {manifest.get(name)!r}, not {value!r}")
    for name, rec in manifest["files"].items():
        path = folder / name
        size = rec if isinstance(rec, int) else rec.get("bytes") if isinstance(rec, dict) else None
        try:
            if path.stat().st_size != size:
                raise CacheError(f"{name} has the wrong size")
        except OSError:
            raise CacheError(f"{name} is missing") from None
        if isinstance(rec, dict) and "sha256" in rec and sha256_file(path) != rec["sha256"]:
            raise CacheError(f"{name} does not match its checksum")
    return manifest


class Memo(Generic[K, V]):
    """A small thread-safe least-recently-used map for objects that are expensive to build.

    :meth:`get_or_build` builds a missing value once even when several threads ask at the same time:
    the others wait for it (a lock per key), while lookups of other keys go on. ``pinned(value)`` marks
    values that eviction skips while any unpinned one remains (the default RAG corpus, say).
    """

    def __init__(self, size: int = 4, pinned: Callable[[V], bool] | None = None):
        self.size = size
        self._pinned = pinned or (lambda v: False)
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[K, threading.Lock] = {}

    def get(self, key: K) -> V | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def __contains__(self, key: K) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def put(self, key: K, value: V) -> V:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                victims = [k for k, v in self._items.items() if k != key and not self._pinned(v)]
                if not victims:
                    break
                self._items.pop(victims[0])
        return value

    def get_or_build(self, key: K, build: Callable[[], V]) -> V:
        hit = self.get(key)
        if hit is not None:
            return hit
        with self._lock:
            lock = self._building.setdefault(key, threading.Lock())
        with lock:
            hit = self.get(key)
            if hit is None:
                hit = self.put(key, build())
        with self._lock:
            self._building.pop(key, None)
        return hit

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
