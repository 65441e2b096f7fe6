"""Model surgery: change a model's structure, get a new model, leave the registry's copy untouched.

* :func:`ternarize` (BitNet b1.58): every linear weight becomes gamma * {-1, 0, +1}, activations 8-bit.
* :func:`depth_upscale` (SOLAR): two copies of the layer stack, trimmed at the seam and stacked.
* :func:`upcycle` (sparse upcycling): chosen MLPs become mixtures of experts copied from the dense MLP.

Each takes a ``LoadedModel`` (returns a new, unregistered ``LoadedModel`` with the same tokenizer) or a
transformers model (returns a new transformers model). The submodules import torch; this package does not,
so importing it (as the tabs do) stays cheap.
"""
from __future__ import annotations

from typing import Any

_EXPORTS = {"ternarize": "bitnet", "depth_upscale": "dus", "upcycle": "upcycling"}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"backends.surgery.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'backends.surgery' has no attribute {name!r}")


__all__ = list(_EXPORTS)
