"""backends/memory.py: the budget's default and bad values (tests/unit/test_models.py), the process's memory, and
handing back the resident pages of a mapped weights file."""
import sys

import numpy as np
import pytest

from backends import memory


def _rss_file_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssFile:"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and madvise are Linux's")
def test_the_pages_of_a_mapped_file_are_handed_back_and_read_again_intact(tmp_path):
    path = tmp_path / "weights.bin"
    data = np.arange(16 * 2**20 // 4, dtype=np.float32)  # 16 MB
    data.tofile(path)
    mapped = np.memmap(path, dtype=np.float32, mode="c")  # private and writable, as transformers maps safetensors
    before = _rss_file_kb()
    assert float(mapped.sum(dtype=np.float64)) == float(data.sum(dtype=np.float64))  # every page read
    touched = _rss_file_kb()
    assert touched - before > 12 * 1024
    assert memory.release_file_pages(path) >= 16 * 2**20
    assert touched - _rss_file_kb() > 12 * 1024  # handed back
    assert np.array_equal(mapped, data)  # and read again from the file when touched
    assert memory.release_file_pages(tmp_path / "not-mapped.bin") == 0


def test_the_process_memory_figures():
    assert memory.rss_bytes() > 10 * 2**20 and memory.peak_rss_bytes() >= memory.rss_bytes() * 0.5
    assert memory.gb(3 * 2**30) == "3.0 GB" and memory.gb(None) == "?"
