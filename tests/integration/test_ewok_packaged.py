"""EWoK on the packaged tiny-profile models: the Python API end to end, a sanity item, CHOICE on a real tokenizer."""
import pytest

from backends import ewok as E

pytestmark = pytest.mark.integration

# An item whose pairing Gemma-3-270M gets right by a clear margin (about 1 nat each way, measured).
SANITY = E.Item("sanity", "physical dynamics", "weather", "It is raining heavily outside.",
                "The sun is shining in a clear blue sky.", "Ali took an umbrella.", "Ali put on sunglasses.")


def test_evaluate_ten_items_through_the_python_api(registry):
    items = E.load_items()
    sample = E.sample_items(items, domains=list(E.DOMAINS[:10]), per_domain=1, seed=0)
    e = E.evaluate_ewok(sample, model=None)  # the registry's "chat" slot
    assert e.model == registry.slots["chat"] and e.n == 10 and e.complete
    assert {r.score for r in e.results} <= {0.0, 0.5, 1.0}
    assert list(e.accuracy_by_domain) == list(E.DOMAINS[:10])
    assert 0.0 <= e.accuracy <= 1.0 and e.interval[0] <= e.accuracy <= e.interval[1]
    # Every score is a real log-probability of a non-empty target.
    assert all(r.t1c1 < 0 and r.t2c2 < 0 for r in e.results)


def test_a_tiny_model_gets_the_sanity_item_right(registry):
    r = E.score_items(registry.get("gemma3-270m"), [SANITY])[0]
    assert r.t1c1 > r.t1c2 and r.t2c2 > r.t2c1 and r.score == 1.0
