"""The registry on the real packaged models: load, convert, cache, share, score, embed, generate."""
import shutil

import numpy as np
import pytest

from backends import lm as L
from backends import models

pytestmark = pytest.mark.integration
PACKAGED = ["smollm2-135m-instruct", "gemma3-270m", "all-minilm-l6-v2"]


@pytest.mark.parametrize("name", PACKAGED)
def test_each_packaged_model_loads_and_is_reported(registry, name):
    m = registry.get(name)
    assert m.device == "cpu" and m.dtype == "float32" and m.n_params > 10_000_000
    row = next(r for r in registry.loaded() if r["name"] == name)
    assert row["memory_mb"] > 10 and row["params_m"] > 10


def test_second_registry_loads_from_the_converted_cache(registry, tmp_path):
    for name in ("smollm2-135m-instruct", "gemma3-270m"):
        registry.get(name)  # makes sure the cache entry exists
        assert models.cache_valid(registry.cache_entry(registry.spec(name)))
    fresh = models.ModelRegistry("tiny", cache_dir=registry.cache_dir)
    for name in ("smollm2-135m-instruct", "gemma3-270m"):
        assert fresh.get(name).loaded_from == "cache"


def test_slots_naming_one_model_share_one_copy(registry):
    assert registry.get(slot="observer") is registry.get(slot="performer") is registry.get("smollm2-135m-instruct")


@pytest.mark.parametrize("name", ["smollm2-135m-instruct", "gemma3-270m"])
def test_cached_tokenizer_gives_the_gguf_tokenizers_ids(registry, name):
    from transformers import AutoTokenizer

    from backends.gguf_reading import fast_gguf_reading

    gguf = registry.gguf_path(registry.spec(name))
    with fast_gguf_reading():  # the same header values (tests/unit/test_gguf_reading.py), read in a third the time
        reference = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    cached = registry.get(name).tokenizer
    for text in ["Hello world", "  Tabs\tand\nnewlines, ünïcödé, emoji 😀, numbers 12345.",
                 "Four score and seven years ago our fathers brought forth"]:
        assert cached(text)["input_ids"] == reference(text)["input_ids"]


def test_corrupt_cache_entry_is_rebuilt(registry, tmp_path):
    spec = registry.spec("smollm2-135m-instruct")
    registry.get(spec.name)
    private = models.ModelRegistry("tiny", cache_dir=tmp_path)
    entry = private.cache_entry(spec)
    shutil.copytree(registry.cache_entry(spec), entry)
    with open(entry / "model.safetensors", "r+b") as f:  # a half-written weights file
        f.truncate(1000)
    m = private.get(spec.name)
    assert m.loaded_from == "rebuilt" and models.cache_valid(entry)  # and the user is told so
    assert not list(entry.parent.glob(".tmp-*"))  # no temporary folder left behind


def test_scores_prefer_fluent_text(registry):
    m = registry.get("chat")
    fluent, scrambled = L.score(m, ["The capital of France is Paris, and the capital of Italy is Rome.",
                                    "Rome capital the is and of, Paris France Italy the of capital is."])
    assert fluent.mean_nll < scrambled.mean_nll
    assert fluent.tokens[1] == " capital"


def test_batched_scores_equal_single_scores_on_gemma(registry):
    m = registry.get("base")
    texts = ["A short one.", "A considerably longer sentence, so that the short one gets padded in its batch."]
    batched = L.score(m, texts)
    single = L.score(m, texts[:1])
    np.testing.assert_allclose(batched[0].logprobs, single[0].logprobs, atol=1e-4)


def test_embedder_ranks_paraphrases_closer(registry):
    emb = registry.get("embedder").model
    v = emb.encode(["A cat sits on the mat.", "A kitten is sitting on a rug.", "Stock markets fell sharply."],
                   normalize_embeddings=True)
    assert v.shape == (3, 384)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_greedy_chat_generation_answers(registry):
    g = L.generate(registry.get("chat"), "What is the capital of France? Answer in one word.",
                   max_new_tokens=12, chat=True)
    assert "Paris" in g.text
    again = L.generate(registry.get("chat"), "What is the capital of France? Answer in one word.",
                       max_new_tokens=12, chat=True)
    assert again.token_ids == g.token_ids


def test_a_conversion_killed_midway_leaves_no_entry_and_the_next_start_converts(tmp_path, monkeypatch):
    """The Space's build step (scripts/prepare_models.py) killed while it converts: nothing that looks converted
    is left. Then a user's first request on that empty cache, with a 2 s time budget, converts the model (about
    10 s) and still answers: loading is no part of a request's budget. The next build finds the entry done."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, str(root / "scripts" / "prepare_models.py"), "--names", "smollm2-135m-instruct",
           "--cache-dir", str(tmp_path)]
    reg = models.ModelRegistry("tiny", cache_dir=tmp_path, device="cpu")
    entry = reg.cache_entry(reg.spec("smollm2-135m-instruct"))
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
    for line in first.stdout:  # killed once it reports converting (the temporary entry is being written)
        if "Converting" in line or "Dequantis" in line or "%" in line:
            time.sleep(1.0)
            break
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL  # it was killed, not finished
    assert models.cache_problem(entry) is not None and not models.cache_valid(entry)
    from tabs.detector import detect

    monkeypatch.setenv("WORKBENCH_TIME_BUDGET_S", "2")
    with models.use_registry(reg):
        verdict = detect("The committee met on Tuesday and agreed to publish its report next spring, after the "
                         "members had read the comments that people sent in over the winter months.",
                         "smollm2-135m-instruct", "smollm2-135m-instruct", "observer", "default for this pair", 0.9)[0]
    assert "nats/token" in verdict and reg.get("smollm2-135m-instruct").loaded_from == "converted"
    assert models.cache_valid(entry)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "already converted" in done.stdout, done.stdout + done.stderr
