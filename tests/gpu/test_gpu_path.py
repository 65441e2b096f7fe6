"""The CUDA path: hub/local models load in 4-bit NF4 through bitsandbytes and score on the GPU.

Skipped without CUDA (CI has none); run on a GPU machine with `python -m pytest tests/gpu`.
"""
import numpy as np
import pytest
import torch

from backends import lm as L
from backends.models import ModelRegistry
from tests.fakes import save_tiny_folder

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    # Wide enough for bitsandbytes' 64-value quantisation blocks.
    return save_tiny_folder(tmp_path_factory.mktemp("tiny") / "llama", hidden=512, layers=4)


def test_local_model_loads_in_4bit_nf4_on_cuda(folder, tmp_path):
    import bitsandbytes as bnb

    reg = ModelRegistry("gpu", cache_dir=tmp_path)
    assert reg.device == "cuda"
    reg.add("tiny4", str(folder))
    m = reg.get("tiny4")
    assert m.quantized and m.device.startswith("cuda")
    linear4 = [mod for mod in m.model.modules() if isinstance(mod, bnb.nn.Linear4bit)]
    assert linear4, "no Linear4bit layers: the model was not quantised"
    assert linear4[0].weight.quant_type == "nf4"
    assert m.model.config.quantization_config.bnb_4bit_compute_dtype == torch.bfloat16
    assert m.dtype == "bfloat16"  # the unquantised parts (embeddings, norms, head)
    info = reg.loaded()[0]
    print("4-bit model:", info)


def test_4bit_scores_track_the_full_precision_model(folder, tmp_path):
    reg = ModelRegistry("gpu", cache_dir=tmp_path)
    reg.add("tiny4", str(folder))
    q = reg.get("tiny4")
    full = ModelRegistry("cpu", cache_dir=tmp_path, device="cpu")
    full.add("tiny32", str(folder))
    f = full.get("tiny32")
    texts = ["hello world, this is a test of the gpu path.", "abc", "the quick brown fox jumps over the lazy dog"]
    sq, sf = L.score(q, texts), L.score(f, texts)
    assert [a.token_ids for a in sq] == [b.token_ids for b in sf]
    # Random weights give near-uniform predictions, so compare over all tokens together.
    a = np.concatenate([x.logprobs for x in sq])
    b = np.concatenate([x.logprobs for x in sf])
    corr, diff = np.corrcoef(a, b)[0, 1], np.abs(a - b).mean()
    print(f"4-bit vs float32 log-probs over {a.size} tokens: corr {corr:.3f}, mean |diff| {diff:.3f} nats")
    assert corr > 0.8 and diff < 0.5
    g = L.generate(q, "hello", max_new_tokens=8)
    assert len(g.token_ids) <= 8
    print(f"4-bit memory {q.memory_bytes / 2**20:.1f} MiB vs float32 {f.memory_bytes / 2**20:.1f} MiB")
    assert q.memory_bytes < f.memory_bytes / 3


def test_method_backends_run_on_cuda(folder, tmp_path):
    """Early exit, CoT-decoding and Binoculars on a 4-bit model on the GPU (inputs placed on its device)."""
    from backends import cot_decoding as CD
    from backends import detector as D
    from backends import early_exit as EE
    from backends import models

    reg = ModelRegistry("gpu", cache_dir=tmp_path)
    reg.add("tiny4", str(folder))
    for slot in ("early_exit", "base", "observer", "performer"):
        reg.set_slot(slot, "tiny4")
    with models.use_registry(reg):
        r = EE.self_speculative("abc abc abc", "tiny4", exit_layer=2, num_speculations=3, max_new_tokens=16)
        assert r.identical, (r.token_ids, r.greedy_token_ids)
        lens = EE.logit_lens("hello world, this is a test", "tiny4")
        assert lens.n_layers == 4
        assert EE.lens_matches_model("hello world", "tiny4") < 1e-2  # 4-bit: the head runs in bf16
        ex = CD.explore("what is 2 and 3?", "tiny4", k=3, max_new_tokens=12)
        assert len(ex.paths) == 3
        b = D.binoculars(["the quick brown fox jumps over the lazy dog, again and again."], min_tokens=4)
        assert b[0].single_model and b[0].score > 0
        print(f"on cuda: speculation identical={r.identical}, acceptance {r.acceptance_rate:.2f}; lens mean exit "
              f"{lens.mean_exit_layer:.2f}; CoT answers {[p.answer for p in ex.paths]}; Binoculars {b[0].score:.3f}")


def test_bandit_agent_runs_on_cuda(folder, tmp_path):
    """The LLM bandit agent on a 4-bit model on the GPU: the prefix KV cache and the batched generation."""
    from backends import bandits as BD
    from backends import models

    reg = ModelRegistry("gpu", cache_dir=tmp_path)
    reg.add("tiny4", str(folder))
    reg.set_slot("chat", "tiny4")
    with models.use_registry(reg):
        inst = BD.make_instance("hard", seed=0)
        cached = BD.run_llm("BNRN1", inst, horizon=6, replicates=2, seed=0)
        fresh = BD.run_llm("BNRN1", inst, horizon=6, replicates=2, seed=0, reuse_cache=False)
        assert cached.tokens_run < fresh.tokens_run
        assert np.allclose(np.asarray(cached.probs), np.asarray(fresh.probs), atol=0.05)
        cot = BD.run_llm("BSSC~0", inst, horizon=2, replicates=3, seed=0, max_reasoning_tokens=8)
        assert sum(cot.parse_counts().values()) == 6
        print(f"bandits on cuda: cached {cached.tokens_run} vs fresh {fresh.tokens_run} prompt tokens; "
              f"CoT parse {cot.parse_counts()}")
