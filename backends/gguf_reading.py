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

Two more swaps save the header's conversion to Python values (measured on Qwen2.5-Coder-1.5B, 2.7 M value calls,
4.8 s): transformers' metadata-only ``load_gguf_checkpoint`` (the tokenizer's and the config's call) runs once
per path and hands each caller its own copy, and :func:`parse_value` converts a value as transformers'
``_gguf_parse_value`` does, with strings decoded from the array's bytes rather than through a Python list.
"""
from __future__ import annotations

import contextlib
import copy
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


_INTEGERS, _FLOATS, _BOOL, _STRING, _ARRAY = (0, 1, 2, 3, 4, 5, 10, 11), (6, 12), 7, 8, 9  # GGUF value types


def parse_value(value: Any, data_type: Any) -> Any:
    """One GGUF metadata value as a Python value: what transformers' ``_gguf_parse_value`` returns (the unit test
    compares every field of a file), with a string's bytes taken from its uint8 array in one call."""
    if isinstance(data_type, list):
        if len(data_type) == 1:
            data_type = data_type[0]
        elif data_type[0] != _ARRAY:
            raise ValueError("Received multiple types, therefore expected the first type to indicate an array.")
        else:
            return parse_value(value, data_type[1])
    if data_type in _INTEGERS:
        return int(value[0])
    if data_type in _FLOATS:
        return float(value[0])
    if data_type == _BOOL:
        return bool(value[0])
    if data_type == _STRING:
        if getattr(value, "dtype", None) is not None and value.dtype.itemsize == 1:
            return value.tobytes().decode()
        return bytes(int(v) for v in value).decode()
    return value


@contextlib.contextmanager
def fast_gguf_reading() -> Iterator[None]:
    """Inside the block, ``gguf.GGUFReader(path)`` returns one fast reader per path, ``gguf.get_tensor_name_map``
    one table per arguments, transformers' metadata-only ``load_gguf_checkpoint`` one parse per path (a copy to
    each caller), and its value parser is :func:`parse_value`; all are put back afterwards."""
    import gguf
    from transformers import modeling_gguf_pytorch_utils as hf_gguf

    with _lock:
        original_reader, original_map = gguf.GGUFReader, gguf.get_tensor_name_map
        original_load, original_parse = hf_gguf.load_gguf_checkpoint, hf_gguf._gguf_parse_value
        readers: dict[tuple, Any] = {}
        metadata: dict[str, Any] = {}
        fast = fast_reader_class()

        def reader(path: Any, mode: str = "r") -> Any:
            key = (str(path), mode)
            if key not in readers:
                readers[key] = fast(path, mode)
            return readers[key]

        def load_checkpoint(path: Any, return_tensors: bool = False, model_to_load: Any = None,
                            torch_dtype: Any = None) -> Any:
            if return_tensors or model_to_load is not None or torch_dtype is not None:
                return original_load(path, return_tensors=return_tensors, model_to_load=model_to_load,
                                     torch_dtype=torch_dtype)
            if str(path) not in metadata:
                metadata[str(path)] = original_load(path, return_tensors=False)
            return copy.deepcopy(metadata[str(path)])  # callers may change what they get

        gguf.GGUFReader = reader
        gguf.get_tensor_name_map = functools.cache(original_map)
        hf_gguf.load_gguf_checkpoint, hf_gguf._gguf_parse_value = load_checkpoint, parse_value
        try:
            yield
        finally:
            gguf.GGUFReader, gguf.get_tensor_name_map = original_reader, original_map
            hf_gguf.load_gguf_checkpoint, hf_gguf._gguf_parse_value = original_load, original_parse
            readers.clear()
            metadata.clear()
