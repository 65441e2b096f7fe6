"""The "detector" sweep on two Ray workers gives the in-process figures (tiny profile, six benchmark texts)."""
import pytest

from backends import detector as D


def test_ray_workers_score_the_benchmark_like_the_in_process_run(registry, local_ray, monkeypatch):
    monkeypatch.setenv("WORKBENCH_MAX_TOKENS", "128")  # forwarded to the workers: they cut texts alike
    items = D.sample_benchmark(D.load_benchmark(), 2, generators=["smollm2-135m-instruct", "gemma3-270m"])
    assert len(items) == 6 and {it.label for it in items} == {"human", "machine"}
    local = D.evaluate(items, target_fpr=0.2)
    ray = D.evaluate(items, target_fpr=0.2, backend="ray", workers=2)
    assert "ray" in ray.sweep["backend"] and ray.sweep["workers"] == 2 and ray.sweep["failed"] == 0
    assert local.sweep["backend"] == "local" and not ray.stopped
    assert len(ray.sweep["worker_memory_mb"]) == 2  # each worker loaded its own copy of the model
    for a, b in zip(ray.scores, local.scores):
        assert (a["label"], a["generator"], a["n_tokens"]) == (b["label"], b["generator"], b["n_tokens"])
        for key in ("binoculars", "log_ppl", "log_xppl"):
            assert a[key] == pytest.approx(b[key], rel=1e-4)
    assert ray.tokens == local.tokens and ray.by_generator.keys() == local.by_generator.keys()
    for name in ("binoculars", "perplexity"):
        assert getattr(ray, name).auroc == pytest.approx(getattr(local, name).auroc, abs=1e-9)
        assert getattr(ray, name).threshold == pytest.approx(getattr(local, name).threshold, rel=1e-4)
