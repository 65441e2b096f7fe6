"""The warm start (backends/warmup.py) on a fake registry: the tabs' order, one load per model, the memory budget
respected, a failure kept for the Models tab, and the line under the title."""
import threading
import time

from backends import warmup


class FakeRegistry:
    def __init__(self, sizes, budget, fail=()):
        self.slots = {"chat": "big", "base": "small", "observer": "small", "performer": "big", "embedder": "emb",
                      "early_exit": "f32", "reader": "small"}
        self.sizes, self.budget, self.fail = sizes, budget, set(fail)
        self.loaded, self.calls = {}, []
        self.gate = threading.Event()

    def is_loaded(self, name):
        return name in self.loaded

    def memory_use(self):
        return sum(self.loaded.values()), self.budget

    def spec(self, name):
        return name

    def estimate_bytes(self, name):
        return self.sizes[name]

    def get(self, name, progress=None):
        self.calls.append(name)
        progress(0.5, f"Converting {name}")
        self.gate.wait(5)
        if name in self.fail:
            raise RuntimeError(f"{name} is broken")
        self.loaded[name] = self.sizes[name]
        return name


def test_models_load_once_in_the_tabs_order_within_the_budget():
    reg = FakeRegistry({"small": 1, "big": 3, "f32": 5, "emb": 0}, budget=6, fail={"emb"})
    w = warmup.Warmup.for_profile(reg)
    assert w.names == ["small", "big", "f32", "emb"]  # observer, performer, base, early_exit, chat, embedder, reader
    w.start()
    for _ in range(500):
        if w.state["small"].startswith("loading: "):
            break
        time.sleep(0.01)
    assert "loading small (Converting small)" in w.line() and "0 of 4 ready" in w.line()
    reg.gate.set()
    assert w.wait(10)
    assert reg.calls == ["small", "big", "emb"]  # f32 would not fit beside the others: left for its first use
    assert w.state == {"small": "ready", "big": "ready", "f32": "skipped (memory budget): loads at first use",
                       "emb": "failed: emb is broken"}
    assert w.line().startswith("Models ready: 2 of 4 (f32, emb at first use), prepared in")


def test_a_model_already_loaded_is_not_loaded_again():
    reg = FakeRegistry({"small": 1, "big": 1, "f32": 1, "emb": 1}, budget=10)
    reg.loaded["big"] = 1
    reg.gate.set()
    w = warmup.Warmup.for_profile(reg).start()
    assert w.wait(10) and "big" not in reg.calls and set(w.state.values()) == {"ready"}
