import pytest

from backends import models
from tests.fakes import save_tiny_folder


@pytest.fixture(scope="module")
def tiny_registry(tmp_path_factory):
    """A process-wide registry whose observer/performer slots hold tiny random Llamas.

    "tiny-a" and "tiny-b" share one tokenizer (a valid Binoculars pair); the previous registry is
    restored afterwards, so tiers that use the packaged models are unaffected.
    """
    base = tmp_path_factory.mktemp("tiny-models")
    reg = models.ModelRegistry("tiny", cache_dir=base / "cache", device="cpu")
    reg.add("tiny-a", str(save_tiny_folder(base / "a", seed=0)))
    reg.add("tiny-b", str(save_tiny_folder(base / "b", seed=1)))
    reg.set_slot("observer", "tiny-a")
    reg.set_slot("performer", "tiny-a")
    with models.use_registry(reg):
        yield reg


@pytest.fixture()
def tiny_chat(tiny_registry):
    """The tiny registry with its chat slot on "tiny-a" (the bandit agent's model), put back afterwards."""
    saved = tiny_registry.slots["chat"]
    tiny_registry.set_slot("chat", "tiny-a")
    yield tiny_registry
    tiny_registry.set_slot("chat", saved)
