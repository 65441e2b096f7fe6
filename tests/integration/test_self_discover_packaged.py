"""Self-Discover end to end on the test profile's packaged chat model (tiny: SmolLM2-135M-Instruct).

A model this small rarely writes a good plan; the test checks the pipeline, not the plan: three (or, after a
bad plan, four) visible calls, every prompt kept verbatim, a structure or a clear message, and calls counted.
"""
import json

import pytest

from backends import self_discover as SD

pytestmark = pytest.mark.integration
EXAMPLES = ["Tom has 4 marbles and buys 3 more. How many marbles does Tom have now?",
            "A box holds 6 pens. How many pens are in 5 boxes?"]
SHORT = {"select": 32, "adapt": 48, "implement": 64, "solve": 48, "direct": 8, "cot": 32}


@pytest.fixture(scope="module")
def structure(registry):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SD, "MAX_TOKENS", SHORT)
        yield SD.discover(EXAMPLES)


def test_discover_runs_three_visible_calls_or_retries_once(structure, registry):
    s = structure
    assert s.model == registry.resolve(None, "chat")
    assert [c.stage for c in s.calls][:3] == ["select", "adapt", "implement"] and s.n_calls in (3, 4)
    assert all(c.prompt == s.prompts[c.stage] for c in s.calls)
    assert all(ex in s.prompts["select"] for ex in EXAMPLES)
    assert s.ok or "even after a retry" in s.error
    json.dumps(s.to_dict())


def test_solve_and_baselines_count_calls(structure, registry):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SD, "MAX_TOKENS", SHORT)
        q = "Sofia has 16 stamps. She buys 2 more. How many stamps does Sofia have now?"
        if structure.ok:
            sol = SD.solve(structure, q)
            assert sol.n_calls == 1 and json.dumps(structure.structure, indent=2) in sol.calls[0].prompt
        else:
            with pytest.raises(SD.InputError, match="no JSON plan"):
                SD.solve(structure, q)
        a = SD.baseline(q, method="cot-sc", k=3, seed=7)
        assert a.n_calls == 3 and len(a.answers) == 3
        assert SD.baseline(q, method="cot-sc", k=3, seed=7).calls[0].replies == a.calls[0].replies
