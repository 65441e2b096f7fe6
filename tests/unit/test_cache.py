"""backends/cache.py: atomic writes, stale temporaries, pickles, manifests and the locked memo."""
import hashlib
import json
import os
import pickle
import threading
import time

import pytest

from backends import cache
from backends.cache import (
    MANIFEST,
    CacheError,
    Memo,
    atomic_dir,
    atomic_file,
    check_manifest,
    read_pickle,
    remove_stale_temporaries,
    write_manifest,
    write_pickle,
)


def _temporaries(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".tmp-"))


def _age(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t))


# ----- atomic writes ------------------------------------------------------------------------------
def test_atomic_file_replaces_the_file_on_success(tmp_path):
    out = tmp_path / "a.txt"
    out.write_text("old")
    with atomic_file(out) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".tmp-a.txt-")
        tmp.write_text("new")
        assert out.read_text() == "old"  # readers see the old file until the rename
    assert out.read_text() == "new" and _temporaries(tmp_path) == []


def test_atomic_file_leaves_nothing_on_error(tmp_path):
    out = tmp_path / "a.txt"
    out.write_text("old")
    with pytest.raises(ValueError), atomic_file(out) as tmp:
        tmp.write_text("half")
        raise ValueError("the writer failed")
    assert out.read_text() == "old" and _temporaries(tmp_path) == []
    with pytest.raises(KeyboardInterrupt), atomic_file(tmp_path / "b.txt") as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_atomic_dir_replaces_the_folder_on_success(tmp_path):
    out = tmp_path / "entry"
    out.mkdir()
    (out / "old.bin").write_bytes(b"old")
    with atomic_dir(out) as tmp:
        assert tmp.is_dir() and not any(tmp.iterdir())
        (tmp / "new.bin").write_bytes(b"new")
        assert (out / "old.bin").exists()
    assert sorted(p.name for p in out.iterdir()) == ["new.bin"]  # replaced, not merged
    assert _temporaries(tmp_path) == []


def test_atomic_dir_leaves_nothing_on_error(tmp_path):
    out = tmp_path / "entry"
    out.mkdir()
    (out / "old.bin").write_bytes(b"old")
    with pytest.raises(OSError), atomic_dir(out) as tmp:
        (tmp / "half.bin").write_bytes(b"half")
        raise OSError("disk full")
    assert sorted(p.name for p in out.iterdir()) == ["old.bin"] and _temporaries(tmp_path) == []
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "fresh") as tmp:
        (tmp / "half.bin").write_bytes(b"half")
        raise RuntimeError
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry"]


def test_stale_temporaries_are_removed_only_when_old(tmp_path):
    old_dir, old_file = tmp_path / ".tmp-x-1111", tmp_path / ".tmp-x-2222"
    old_dir.mkdir()
    (old_dir / "part").write_bytes(b"half")
    old_file.write_bytes(b"half")
    young = tmp_path / ".tmp-x-3333"  # another process writing right now
    young.write_bytes(b"in progress")
    other = tmp_path / ".tmp-y-4444"  # another entry's temporary, however old
    other.write_bytes(b"y")
    for p in (old_dir, old_file, other):
        _age(p, 2 * cache.STALE_AFTER_S)
    removed = remove_stale_temporaries(tmp_path, ".tmp-x-")
    assert sorted(removed) == sorted([old_dir, old_file])
    assert young.exists() and other.exists() and not old_dir.exists() and not old_file.exists()
    assert remove_stale_temporaries(tmp_path, ".tmp-x-", older_than_s=0.0) == [young]


def test_a_new_write_clears_stale_temporaries_of_its_own_name(tmp_path):
    stale, young = tmp_path / ".tmp-out.bin-dead0001", tmp_path / ".tmp-out.bin-live0002"
    stale.write_bytes(b"left by a killed process")
    young.write_bytes(b"being written")
    _age(stale, 2 * cache.STALE_AFTER_S)
    cache.write_bytes(tmp_path / "out.bin", b"done")
    assert (tmp_path / "out.bin").read_bytes() == b"done"
    assert _temporaries(tmp_path) == [young.name]


def test_text_and_json_writers_round_trip(tmp_path):
    cache.write_text(tmp_path / "t.txt", "héllo")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo"
    cache.write_json(tmp_path / "d" / "j.json", {"a": [1, 2], "b": "ü"})  # the folder is created
    assert json.loads((tmp_path / "d" / "j.json").read_text(encoding="utf-8")) == {"a": [1, 2], "b": "ü"}


# ----- pickles --------------------------------------------------------------------------------------
def test_pickle_round_trip_and_missing_file(tmp_path):
    path = tmp_path / "p.pkl"
    assert read_pickle(path) is None
    write_pickle(path, {"key": "k", "values": [1, 2, 3]})
    assert read_pickle(path) == {"key": "k", "values": [1, 2, 3]}


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_corrupt_pickle_is_deleted_and_read_as_none(tmp_path, damage):
    path = tmp_path / "p.pkl"
    write_pickle(path, {"key": "k", "values": list(range(100))})
    blob = path.read_bytes()
    path.write_bytes({"truncated": blob[: len(blob) // 2], "garbage": b"\x00 not a pickle" * 5, "empty": b""}[damage])
    assert read_pickle(path) is None
    assert not path.exists()  # so that the caller rebuilds it


def test_a_pickle_failing_its_check_is_deleted(tmp_path):
    path = tmp_path / "p.pkl"
    path.write_bytes(pickle.dumps({"key": "another"}))
    assert read_pickle(path, valid=lambda obj: obj.get("key") == "mine") is None and not path.exists()
    write_pickle(path, {"key": "mine"})
    assert read_pickle(path, valid=lambda obj: obj.get("key") == "mine") == {"key": "mine"} and path.exists()


def test_an_interrupted_pickle_write_leaves_nothing(tmp_path):
    class Unpicklable:
        def __reduce__(self):
            raise KeyboardInterrupt  # the process stopped while pickling

    path = tmp_path / "p.pkl"
    with pytest.raises(KeyboardInterrupt):
        write_pickle(path, {"x": Unpicklable()})
    assert list(tmp_path.iterdir()) == []


# ----- manifests ------------------------------------------------------------------------------------
@pytest.fixture()
def entry(tmp_path):
    folder = tmp_path / "entry"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"w" * 1000)
    (folder / "config.json").write_text('{"layers": 2}')
    return folder


def test_a_complete_entry_is_accepted(entry):
    written = write_manifest(entry, checksums=True, format=3, source="x.gguf")
    assert written["files"]["weights.bin"] == {"bytes": 1000, "sha256": hashlib.sha256(b"w" * 1000).hexdigest()}
    got = check_manifest(entry, format=3, source="x.gguf")
    assert got["files"] == written["files"] and got["format"] == 3
    assert cache.sha256_file(entry / "config.json") == hashlib.sha256(b'{"layers": 2}').hexdigest()


def test_size_only_records_are_accepted(entry):
    """Entries written before checksums existed record each file as its size."""
    (entry / MANIFEST).write_text(json.dumps({"format": 1, "files": {"weights.bin": 1000, "config.json": 13}}))
    assert check_manifest(entry, format=1)["files"]["weights.bin"] == 1000
    (entry / "weights.bin").write_bytes(b"w" * 999)
    with pytest.raises(CacheError, match="weights.bin has the wrong size"):
        check_manifest(entry, format=1)


@pytest.mark.parametrize("damage, message", [
    ("missing file", "weights.bin is missing"),
    ("wrong size", "weights.bin has the wrong size"),
    ("bad checksum", "weights.bin does not match its checksum"),
    ("wrong field", "manifest format is 3, not 4"),
    ("no manifest", "no entry"),
    ("unreadable manifest", "manifest unreadable"),
    ("no files listed", "lists no files"),
])
def test_a_damaged_entry_is_refused_with_what_is_wrong(entry, damage, message):
    write_manifest(entry, checksums=True, format=3)
    expected = {"format": 4 if damage == "wrong field" else 3}
    if damage == "missing file":
        (entry / "weights.bin").unlink()
    elif damage == "wrong size":
        (entry / "weights.bin").write_bytes(b"w" * 500)
    elif damage == "bad checksum":
        (entry / "weights.bin").write_bytes(b"v" * 1000)  # same size, other bytes
    elif damage == "no manifest":
        (entry / MANIFEST).unlink()
    elif damage == "unreadable manifest":
        (entry / MANIFEST).write_text("{half a manif")
    elif damage == "no files listed":
        (entry / MANIFEST).write_text(json.dumps({"format": 3, "files": {}}))
    with pytest.raises(CacheError, match=message):
        check_manifest(entry, **expected)


def test_a_manifest_lists_only_the_files_beside_it(entry):
    (entry / "sub").mkdir()
    written = write_manifest(entry)
    assert sorted(written["files"]) == ["config.json", "weights.bin"]  # not itself, not folders
    assert "sha256" not in written["files"]["weights.bin"]


# ----- the memo -----------------------------------------------------------------------------------------
def test_memo_evicts_the_least_recently_used():
    memo: Memo[str, int] = Memo(size=2)
    memo.put("a", 1)
    memo.put("b", 2)
    assert memo.get("a") == 1  # "a" is now the most recently used
    memo.put("c", 3)
    assert "b" not in memo and memo.get("a") == 1 and memo.get("c") == 3 and len(memo) == 2
    assert memo.get("b") is None
    memo.clear()
    assert len(memo) == 0


def test_memo_keeps_pinned_values():
    memo: Memo[str, dict] = Memo(size=2, pinned=lambda v: v.get("default", False))
    memo.put("corpus", {"default": True})
    memo.put("x", {})
    memo.put("y", {})
    memo.put("z", {})
    assert "corpus" in memo and "z" in memo and "x" not in memo and "y" not in memo
    memo.put("default2", {"default": True})  # only pinned values left besides the new one: kept over size
    memo.put("w", {})
    assert "corpus" in memo and "default2" in memo and "w" in memo


def test_get_or_build_builds_once_under_concurrent_callers():
    memo: Memo[str, object] = Memo(size=4)
    builds = []
    start = threading.Barrier(8)

    def build():
        builds.append(threading.get_ident())
        time.sleep(0.2)  # long enough for every caller to arrive while it runs
        return object()

    got = []

    def caller():
        start.wait()
        got.append(memo.get_or_build("k", build))

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(builds) == 1
    assert len(got) == 8 and all(g is got[0] for g in got)
    assert memo.get_or_build("k", lambda: pytest.fail("built again")) is got[0]


def test_a_slow_build_does_not_block_other_keys():
    memo: Memo[str, str] = Memo(size=4)
    release, started = threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(10)
        return "slow"

    t = threading.Thread(target=lambda: memo.get_or_build("a", slow))
    t.start()
    assert started.wait(5)
    t0 = time.monotonic()
    assert memo.get_or_build("b", lambda: "quick") == "quick"  # while "a" is still building
    assert time.monotonic() - t0 < 1 and "a" not in memo
    release.set()
    t.join(timeout=10)
    assert memo.get("a") == "slow"


def test_a_failed_build_stores_nothing_and_the_next_call_builds():
    memo: Memo[str, int] = Memo(size=2)

    def broken():
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        memo.get_or_build("k", broken)
    assert "k" not in memo
    assert memo.get_or_build("k", lambda: 7) == 7


def test_build_lock_waits_for_the_holder_and_times_out_with_a_message(tmp_path):
    from backends.cache import CacheError, build_lock

    target, order = tmp_path / "entry", []

    def other():
        with build_lock(target):
            order.append("other")

    with build_lock(target):
        t = threading.Thread(target=other)
        t.start()
        time.sleep(0.3)
        order.append("holder")  # the other thread is still waiting
        with pytest.raises(CacheError, match="being built by another process"):
            with build_lock(target, timeout_s=0.2):
                pass
    t.join()
    assert order == ["holder", "other"]
