"""Integration: LTE's heads on two local Ray workers give the in-process numbers (toy, small)."""
import pytest

from backends import lte


def test_lte_heads_on_ray_workers_match_in_process(local_ray):
    kw = dict(heads=4, rank=4, merge_every=3, steps=9, seed=2, network="toy", batch=8, evals=3, threads=1)
    here = lte.train_lte(backend="local", workers=1, **kw)
    there = lte.train_lte(backend="ray", workers=2, **kw)
    assert there.backend == "ray" and there.workers == 2 and not there.note
    assert here.samples == there.samples and set(there.losses) == {"full", "lora", "lte"}
    for key in here.losses:
        assert there.losses[key] == pytest.approx(here.losses[key], rel=1e-4, abs=1e-7)
    assert there.train_losses["lte"] == pytest.approx(here.train_losses["lte"], rel=1e-4, abs=1e-7)
    assert there.head_similarity == pytest.approx(here.head_similarity, rel=1e-3, abs=1e-6)
