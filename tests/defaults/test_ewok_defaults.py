"""EWoK on the default cpu model: above chance on an easy domain of the built-in items."""
import pytest

pytestmark = pytest.mark.defaults


def test_social_interactions_above_chance_on_the_default_model(registry):
    from backends import ewok as E

    sample = E.sample_items(E.load_items(), domains=["social interactions"], per_domain=10, seed=0)
    e = E.evaluate_ewok(sample, model=None)
    assert e.model == "qwen2.5-coder-0.5b" and e.n == 10
    # Measured 0.75 (int8, one text per batch, so the figure does not depend on the batch); chance is 0.5.
    assert e.accuracy > E.CHANCE, [(r.id, r.score) for r in e.results]
