"""The "rag" sweep on two Ray workers gives the in-process records (tiny profile, the default corpus, four
built-in questions): each worker rebuilds the index by name and loads the generator once."""
import pytest

from backends import rag as R


def test_ray_workers_answer_like_the_in_process_run(registry, local_ray):
    index = R.build_index()  # the default corpus: its shipped embeddings, then the cache folder
    qa = R.load_qa()[:4]
    settings = dict(k=2, modes=("token",), max_new_tokens=4)
    local = R.evaluate(index, qa, **settings)
    ray = R.evaluate(index, qa, **settings, backend="ray", workers=2)
    assert "ray" in ray.sweep["backend"] and ray.sweep["workers"] == 2 and ray.sweep["failed"] == 0
    assert local.sweep["backend"] == "local" and ray.n == local.n == 4 and not ray.stopped
    assert len(ray.sweep["worker_memory_mb"]) == 2
    for a, b in zip(ray.records, local.records):
        assert a.keys() == b.keys()
        for key, value in b.items():
            if isinstance(value, float) and key.startswith("top_score"):
                assert a[key] == pytest.approx(value, rel=1e-4, abs=1e-4)
            else:  # ranks, recall, answers and their scores are discrete
                assert a[key] == value, key
    assert (ray.recall_by_retrieval, ray.exact_match, ray.f1) == (local.recall_by_retrieval, local.exact_match,
                                                                  local.f1)
