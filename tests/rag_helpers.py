"""Fakes shared by the RAG unit tests: a bag-of-words embedder and a registry holding it with a tiny Llama."""
from __future__ import annotations

import contextlib
import hashlib
import re
from pathlib import Path
from typing import Iterator

import numpy as np

from backends import models
from backends import rag as R
from tests.fakes import tiny_lm

DOCS = [
    "the cat sat on the mat. it was a sunny day in the garden.",
    "paris is the capital of france. the eiffel tower stands there.",
    "the river missouri was explored by lewis and clark.",
]


class HashEmbedder:
    """Bag-of-words vectors from hashed lower-case words: texts sharing words get high inner products."""

    dim = 1024

    def encode(self, texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=False, show_progress_bar=False):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"[a-z0-9]+", t.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
            out[i, 0] += 1e-3  # no all-zero rows
        return out


def loaded_fake(name, role, model, tok):
    spec = models.ModelSpec(name, role, models.LOCAL, f"/nonexistent/{name}")
    return models.LoadedModel(spec, model, tok, "cpu", "float32", 0, 0, 0.0, "folder")


@contextlib.contextmanager
def fake_rag_registry(tmp_path: Path) -> Iterator[models.ModelRegistry]:
    """A real registry whose embedder slot is the hash embedder and whose chat and reader slots are a tiny Llama."""
    reg = models.ModelRegistry("tiny", cache_dir=tmp_path / "cache", device="cpu")
    tiny = tiny_lm(seed=3)
    for loaded in (loaded_fake("hash-embedder", models.EMBEDDER, HashEmbedder(), None), tiny):
        reg.register(loaded.spec)
        reg._entry(loaded.spec.name).loaded = loaded  # the registry has no public way to hold a fake
    reg.set_slot("embedder", "hash-embedder")
    reg.set_slot("chat", "tiny-llama")
    reg.set_slot("reader", "tiny-llama")  # the RAG generator
    R.forget_memo()
    try:
        with models.use_registry(reg):
            yield reg
    finally:
        R.forget_memo()
