"""Reading a GGUF once, quickly, while transformers converts it (used by ``model_files.convert_gguf``).

transformers (5.23, pinned) reads the GGUF's header three times for one conversion (the tokenizer, the
config, the weights), each time with ``gguf.GGUFReader``, whose parser slices an ``np.memmap`` once per
value: about 300,000 slices for a 150k-token vocabulary and its merges, each paying the memmap subclass's
Python hooks. It also builds gguf's tensor-name table once per submodule of the model (397 times for
SmolLM2-135M). Measured on SmolLM2-135M on a loaded 2-core machine: one header parse 4.2 s with
``GGUFReader`` and 1.0 s with :class:`FastGGUFReader`; the name tables 6.8 s in all.

:func:`fast_gguf_reading` swaps both for the length of a conversion: a reader that parses a plain
``ndarray`` view of the same mapping (values identical, as ``tests/unit/test_gguf_reading.py`` checks
field by field) and is built once per path, and a name table built once per (architecture, layers).
"""
from __future__ import annotations

import contextlib
import functools
import threading
from typing import Any, Iterator

_lock = threading.Lock()  # one swap at a time (conversions already run one per model)


@functools.cache
def fast_reader_class() -> type:
    """The reader class (built at first use: gguf and numpy are imported only when a conversion runs)."""
    import numpy as np
    from gguf import GGUFReader

    class FastGGUFReader(GGUFReader):
        """``GGUFReader`` whose header parser slices a plain ``ndarray`` view of the memmap (same bytes, same
        values) instead of the memmap itself."""

        def _get(self, offset: int, dtype: Any, count: int = 1, override_order: Any = None) -> Any:
            plain = self.__dict__.get("_plain")
            if plain is None:
                plain = self.__dict__["_plain"] = self.data.view(np.ndarray)
            dt = np.dtype(dtype)
            count = int(count)
            arr = plain[offset:offset + dt.itemsize * count].view(dt)[:count]
            return arr.view(arr.dtype.newbyteorder(self.byte_order if override_order is None else override_order))

    return FastGGUFReader


@contextlib.contextmanager
def fast_gguf_reading() -> Iterator[None]:
    """Inside the block, ``gguf.GGUFReader(path)`` returns one fast reader per path and
    ``gguf.get_tensor_name_map`` one table per arguments; both are put back afterwards."""
    import gguf

    with _lock:
        original_reader, original_map = gguf.GGUFReader, gguf.get_tensor_name_map
        readers: dict[tuple, Any] = {}
        fast = fast_reader_class()

        def reader(path: Any, mode: str = "r") -> Any:
            key = (str(path), mode)
            if key not in readers:
                readers[key] = fast(path, mode)
            return readers[key]

        gguf.GGUFReader = reader
        gguf.get_tensor_name_map = functools.cache(original_map)
        try:
            yield
        finally:
            gguf.GGUFReader, gguf.get_tensor_name_map = original_reader, original_map
            readers.clear()
