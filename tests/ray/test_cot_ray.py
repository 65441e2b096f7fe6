"""Integration: a small CoT evaluation on a packaged model through local Ray, against the in-process run."""
import math

from backends import cot_decoding as CD


def test_cot_evaluation_on_ray_workers_matches_in_process(registry, local_ray):
    problems = CD.load_problems()[:2]
    kw = dict(k=2, max_new_tokens=8, sc_samples=2, seed=1)
    here = CD.evaluate(problems, None, **kw)
    there = CD.evaluate(problems, None, backend="ray", workers=2, **kw)
    assert there.sweep["backend"].startswith("ray (local") and there.sweep["workers"] == 2
    assert len(there.sweep["worker_memory_mb"]) == 2
    assert here.n == there.n == 2 and not there.stopped and not there.sweep["failed_items"]
    # Answers and correctness are identical; a path's Delta may differ in the last digits (the workers run
    # torch on one thread each, this process on two, so sums run in another order).
    assert here.records == there.records
    assert here.accuracy == there.accuracy
    for a, b in ((here.delta_correct, there.delta_correct), (here.delta_wrong, there.delta_wrong)):
        assert (math.isnan(a) and math.isnan(b)) or abs(a - b) < 1e-4
