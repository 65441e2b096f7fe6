"""Self-Discover end to end on the test profile's packaged chat model (tiny: SmolLM2-135M-Instruct).

A model this small rarely writes a good plan; the test checks the pipeline, not the plan: the stage-1 calls
run for real (three, or four after a bad plan), every prompt kept verbatim, a structure or a clear message,
then one instance solved with a structure and the self-consistency baseline. To stay
within seconds the module list is cut to six and every reply to a few tokens (the full run is the bench:
bench/bench_self_discover.py).
"""
import json

import pytest

from backends import self_discover as SD

pytestmark = pytest.mark.integration
EXAMPLES = ["Tom has 4 marbles and buys 3 more. How many marbles does Tom have now?"]
SHORT = {"select": 6, "adapt": 8, "implement": 24, "solve": 12, "direct": 4, "cot": 8}




def test_discover_then_solve_on_the_packaged_model(registry, monkeypatch, one_thread):
    monkeypatch.setattr(SD, "MAX_TOKENS", SHORT)
    six = SD.reasoning_modules()[:6]
    monkeypatch.setattr(SD, "reasoning_modules", lambda: six)
    s = SD.discover(EXAMPLES)
    assert s.model == registry.resolve(None, "chat")
    assert [c.stage for c in s.calls][:3] == ["select", "adapt", "implement"] and s.n_calls in (3, 4)
    assert all(c.prompt == s.prompts[c.stage] for c in s.calls)
    assert EXAMPLES[0] in s.prompts["select"] and "7. " not in s.prompts["select"]
    assert s.ok or "even after a retry" in s.error
    json.dumps(s.to_dict())

    # Stage 2 with a plan of our own (a structure transfers between models the same way).
    plan = SD.Structure(EXAMPLES, s.model, [], [], {"Add the numbers": "", "Final answer": ""}, {}, [])
    q = "Sofia has 16 stamps. She buys 2 more. How many stamps does Sofia have now?"
    sol = SD.solve(plan, q)
    assert sol.n_calls == 1 and json.dumps(plan.structure, indent=2) in sol.calls[0].prompt
    a = SD.baseline(q, method="cot-sc", k=2, seed=7)  # seeded reproducibility: tests/unit (the real decoding path)
    assert a.n_calls == 2 and len(a.answers) == 2
