"""EWoK on the default cpu model: both metrics score the default model's items consistently.

Which domain is easier is the paper's effect, and ten items per domain cannot decide it (measured 0.85 for social
interactions and 0.60 for physical relations: their bootstrap intervals overlap). ``bench/bench_ewok.py`` measures
it with intervals on every domain; here the checks are what holds on any machine."""
import pytest

pytestmark = pytest.mark.defaults


def test_the_default_model_scores_two_domains_with_intervals(registry):
    from backends import ewok as E

    for domain in ("social interactions", "physical relations"):
        sample = E.sample_items(E.load_items(), domains=[domain], per_domain=5, seed=0)
        e = E.evaluate_ewok(sample, model=None)
        assert e.model == "qwen2.5-coder-1.5b" and e.n == 5
        # an item scores 1, 0.5 or 0 by its two comparisons of log-probabilities (int8 scores one text per pass)
        for r in e.results:
            assert r.score == ((r.t1c1 > r.t1c2) + (r.t2c2 > r.t2c1)) / 2, r.id
        assert e.accuracy == pytest.approx(sum(r.score for r in e.results) / 5)
        lo, hi = e.interval
        assert 0.0 <= lo <= e.accuracy <= hi <= 1.0
