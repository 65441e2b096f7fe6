"""Faults: a damaged model cache, a model that cannot load, a cancelled run, out of memory, time budget.

Each test checks what the user sees (the message) and that the rest of the app keeps working.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import gradio as gr
import pytest
from gradio_client.exceptions import AppError
from gradio_client.utils import Status

from backends import models
from backends.models import CAUSAL_LM, PACKAGE_GGUF, ModelSpec

pytestmark = pytest.mark.app
SMOL = "smollm2-135m-instruct"


# ----- the converted-weights cache ------------------------------------------------------------------
@pytest.fixture()
def cache_copy(registry, tmp_path):
    """A registry on a private cache holding a copy of SmolLM2's converted entry.

    The 540 MB weights file is hard-linked (never written to: rebuilds replace the link, they do not
    write through it); the small files are copied so that the tests can damage them.
    """
    src = registry.cache_entry(registry.spec(SMOL))
    if not models.cache_valid(src):
        registry.get(SMOL)  # converts once, as the app would
    reg = models.ModelRegistry("tiny", cache_dir=tmp_path / "cache", device="cpu")
    entry = reg.cache_entry(reg.spec(SMOL))

    def restore(dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        for f in src.iterdir():
            if f.name == "model.safetensors":
                os.link(f, dest / f.name)
            else:
                shutil.copy2(f, dest / f.name)
        return dest

    rebuilds: list[Path] = []

    def fake_convert(spec, progress=None):  # the real conversion takes a minute; the detection and reload are real
        tmp = entry.parent / ".tmp-test"
        restore(tmp)
        if entry.exists():
            shutil.rmtree(entry)
        os.replace(tmp, entry)
        rebuilds.append(entry)
        return entry

    reg.convert_gguf = fake_convert
    restore(entry)
    yield reg, entry, rebuilds
    reg.unload_all()


def _load_messages(reg) -> tuple[models.LoadedModel, list[str]]:
    seen: list[str] = []
    m = reg.get(SMOL, progress=lambda f, msg: seen.append(msg))
    return m, seen


def test_intact_cache_entry_is_used_as_it_is(cache_copy):
    reg, entry, rebuilds = cache_copy
    m, _ = _load_messages(reg)
    assert m.loaded_from == "cache" and not rebuilds


@pytest.mark.parametrize("damage", ["truncated tokenizer", "manifest missing (half-written)",
                                    "garbage of the right size", "weights file missing"])
def test_damaged_cache_entry_is_detected_rebuilt_and_the_user_told(cache_copy, damage):
    reg, entry, rebuilds = cache_copy
    if damage == "truncated tokenizer":
        (entry / "tokenizer.json").write_bytes((entry / "tokenizer.json").read_bytes()[:1000])
    elif damage == "manifest missing (half-written)":
        (entry / models.MANIFEST).unlink()
    elif damage == "garbage of the right size":  # passes the size check, fails to load
        size = (entry / "config.json").stat().st_size
        (entry / "config.json").write_bytes(b"\x00" * size)
    else:
        (entry / "model.safetensors").unlink()
    m, seen = _load_messages(reg)
    assert len(rebuilds) == 1, damage
    assert m.loaded_from == "rebuilt"
    assert any("incomplete or corrupt" in s and SMOL in s for s in seen), seen
    assert models.cache_valid(entry)
    assert not list(entry.parent.glob(".tmp-*"))


def test_models_tab_tells_the_user_about_a_rebuild(cache_copy):
    from tabs import models_tab

    reg, entry, _ = cache_copy
    (entry / models.MANIFEST).unlink()
    with models.use_registry(reg):
        status = models_tab.RESULT.unpack(models_tab.load_model(SMOL))["status"]
    assert "rebuilt" in status and "incomplete or corrupt" in status


def test_interrupted_conversion_leaves_no_partial_entry(registry, tmp_path, monkeypatch):
    """A conversion that dies while writing (a crash, a cancelled run) leaves no entry and no temp folder."""
    import transformers

    reg = models.ModelRegistry("tiny", cache_dir=tmp_path / "cache", device="cpu")
    spec = reg.spec(SMOL)

    class Half:
        config = type("C", (), {})()

        def save_pretrained(self, folder):
            Path(folder).mkdir(parents=True, exist_ok=True)
            (Path(folder) / "model.safetensors").write_bytes(b"\x00" * 1000)  # half the weights ...
            raise KeyboardInterrupt  # ... then the process is stopped

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: object())
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", lambda *a, **k: Half())
    with pytest.raises(KeyboardInterrupt):
        reg.convert_gguf(spec)
    entry = reg.cache_entry(spec)
    assert not entry.exists()
    assert not [p for p in entry.parent.iterdir()], list(entry.parent.iterdir())


# ----- a model that cannot be had -----------------------------------------------------------------
@pytest.fixture()
def broken_models(registry, tmp_path):
    """Two registry models that fail: one whose package is missing, one whose folder holds a broken config."""
    folder = tmp_path / "broken-lm"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama", "hidden_size": "not a number"')
    registry.register(ModelSpec("ghost-lm", CAUSAL_LM, PACKAGE_GGUF, "workbench_no_such_package",
                                gguf_file="ghost.gguf", description="test: package not installed"))
    registry.add("broken-lm", str(folder))
    yield registry
    for name in ("ghost-lm", "broken-lm"):
        registry.forget(name)


@pytest.mark.parametrize("name, why", [("ghost-lm", "workbench-no-such-package"), ("broken-lm", "failed to load")])
def test_unloadable_model_is_named_with_the_reason_and_other_tabs_keep_working(broken_models, client, name, why):
    from tabs import early_exit, models_tab

    for call in (lambda: models_tab.load_model(name),
                 lambda: early_exit.run_lens("The capital of France is Paris.", name, 3, "top-1 probability")):
        with pytest.raises(gr.Error) as e:
            call()
        msg = str(e.value)
        assert name in msg and why in msg, msg
        assert "Traceback" not in msg
    assert not broken_models.is_loaded(name)
    # The same request fails the same way again (nothing half-loaded is kept) ...
    with pytest.raises(gr.Error, match=name):
        models_tab.load_model(name)
    # ... and the other tabs still answer, through the running app.
    _, _, rows, md = client.predict("A cat sits on the mat.\nStocks fell today.", 1.0, 0, api_name="/cosine_embeddings")
    assert "nearest neighbour" in md
    _, status = client.predict(SMOL, api_name="/models_load")
    assert SMOL in status


# ----- a run cancelled mid-way ----------------------------------------------------------------------
def test_cancelled_run_frees_the_model_slot(client, registry, monkeypatch):
    registry.get("gemma3-270m")  # loaded beforehand, so the slow part below is decoding
    # A cancel frees the lane, but a plain (not streaming) handler's thread runs on until it ends or its time budget
    # runs out (limits() reads the budget per request). With the default budget it decoded on for half a minute,
    # taking CPU from the tests after this one, and where this file ran alone the process exited under the running
    # thread and aborted ("terminate called without an active exception"). So the run gets BUDGET seconds, the
    # lane must be free well before they are up, and the test waits them out.
    budget = 10.0
    monkeypatch.setenv("WORKBENCH_TIME_BUDGET_S", str(budget))
    t0 = time.monotonic()
    job = client.submit("Janet has 3 apples and buys 5 more. How many apples does she have now?", "gemma3-270m",
                        10, 0, 64, "auto", api_name="/cot_explore")
    while job.status().code not in (Status.PROCESSING, Status.PROGRESS) and time.monotonic() - t0 < 120:
        time.sleep(0.05)
    started = time.monotonic()
    time.sleep(1.0)  # well into decoding (k=10 paths of up to 64 tokens: half a minute or more on 2 cores)
    assert not job.done()
    job.cancel()
    # The next request on the same one-at-a-time model lane starts without waiting for the cancelled run.
    t1 = time.monotonic()
    _, status = client.predict(SMOL, api_name="/models_load")
    waited = time.monotonic() - t1
    assert SMOL in status
    assert waited < budget / 2, f"the model lane stayed busy {waited:.1f} s after the cancel"
    assert job.status().code == Status.CANCELLED
    # No partial entry in the weights cache (conversion writes to a temporary folder and renames).
    converted = registry.cache_dir / "converted"
    if converted.exists():
        assert not list(converted.glob(".tmp-*"))
    time.sleep(max(0.0, started + budget + 1.0 - time.monotonic()))  # the cancelled thread has stopped by now


# ----- out of memory and time budget -------------------------------------------------------------------
@pytest.mark.parametrize("error", [
    MemoryError(),
    RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried "
                 "to allocate 68719476736 bytes."),
    pytest.param("torch", id="torch.OutOfMemoryError"),
])
def test_out_of_memory_is_a_message_and_the_server_stays_up(client, monkeypatch, error):
    import torch

    from backends import cosine

    if error == "torch":
        error = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    def boom(*a, **k):
        raise error

    monkeypatch.setattr(cosine, "embed", boom)
    with pytest.raises(AppError) as e:
        client.predict("A cat sits on the mat.\nStocks fell today.", 1.0, 0, api_name="/cosine_embeddings")
    msg = str(e.value)
    assert "ran out of memory" in msg and "alloc_cpu" not in msg and "GiB" not in msg, msg
    monkeypatch.undo()
    _, _, rows, md = client.predict("A cat sits on the mat.\nStocks fell today.", 1.0, 0, api_name="/cosine_embeddings")
    assert len(rows["data"] if isinstance(rows, dict) else rows) == 2


def test_time_budget_stops_a_request_with_a_message(client, monkeypatch, registry):
    registry.get("gemma3-270m")
    monkeypatch.setenv("WORKBENCH_TIME_BUDGET_S", "0.01")  # limits() reads the environment per request
    with pytest.raises(AppError, match="time budget"):
        client.predict("What is 2 plus 3?", "gemma3-270m", 2, 0, 64, "number", api_name="/cot_explore")
    monkeypatch.delenv("WORKBENCH_TIME_BUDGET_S")
    assert client.predict(api_name="/models_list") is not None
    summary, *_ = client.predict("What is 2 plus 3?", "gemma3-270m", 1, 0, 8, "number", api_name="/cot_explore")
    assert "Greedy answer" in summary
