"""Self-Discover: parsing (selection, JSON plans, answers), the retry on a bad plan, call counting, the tasks.

The LM is a scripted fake (replies chosen by the prompt's stage), so no model is loaded; one test runs the real
decoding path on the tiny random Llama of tests/fakes.py.
"""
import json

import pytest

from backends import self_discover as SD
from backends.config import InputError
from tests.fakes import tiny_lm

PLAN = {"Quantities given": "", "Operations needed": "", "Compute step by step": "", "Final answer": ""}
FILLED = {"Quantities given": "13 packs of 11, gives away 5", "Operations needed": "multiply then subtract",
          "Compute step by step": "13*11=143, 143-5=138", "Final answer": "138"}


class ScriptedLM:
    """A Completer whose reply depends on which meta-prompt it was given; it logs every prompt."""

    name = "scripted"

    def __init__(self, implement=None, solve=None, cot_samples=None):
        self.implement = list(implement or ["```json\n" + json.dumps(PLAN) + "\n```"])
        self.solve = solve or ("```json\n" + json.dumps(FILLED) + "\n```\nThe answer is 138.")
        self.cot_samples = cot_samples or ["13*11 = 143, minus 5. The answer is 138."]
        self.prompts = []

    def complete(self, prompt, *, max_new_tokens, n=1, sample=False, temperature=0.7, seed=0, deadline=None):
        self.prompts.append(prompt)
        if prompt.startswith("You will solve problems of one kind. Below is a numbered list"):
            return ["9. Break it down\n29. Analyse and calculate\n- Step by step"]
        if "Rewrite each chosen module" in prompt:
            return ["- Break it down: find each quantity\n- Analyse and calculate: do each operation"]
        if "Turn the instructions below" in prompt:
            return [self.implement.pop(0) if len(self.implement) > 1 else self.implement[0]]
        if prompt.startswith("Follow this step-by-step reasoning plan"):
            return [self.solve]
        if "Reply with the final answer only" in prompt:
            return ["The answer is 140."]
        return [self.cot_samples[i % len(self.cot_samples)] for i in range(n)]


EXAMPLES = ["Tom has 3 apples and buys 4 more. How many apples?", "A box holds 5 pens. How many pens in 6 boxes?"]


def test_thirty_nine_modules_and_a_human_structure():
    mods = SD.reasoning_modules()
    assert len(mods) == 39 and [m.number for m in mods] == list(range(1, 40))
    assert len({m.name for m in mods}) == 39 and all(m.description.endswith(".") for m in mods)
    ex = SD.human_structure()
    assert ex["task"] and isinstance(ex["structure"], dict) and all(v == "" for v in ex["structure"].values())


def test_extract_json_is_tolerant_but_invents_nothing():
    assert SD.extract_json('Here:\n```json\n{"a": "", "b": ""}\n```\nDone.')[0] == {"a": "", "b": ""}
    assert SD.extract_json('Plan: {"x {y}": "1", "z": {"w": ""}} and {"later": 1}')[0] == {"x {y}": "1",
                                                                                         "z": {"w": ""}}
    assert SD.extract_json('{"a": "", "b": "",}')[0] == {"a": "", "b": ""}  # a trailing comma
    obj, err = SD.extract_json('{"a": "", "b": ')
    assert obj is None and "not closed" in err
    obj, err = SD.extract_json("no json at all")
    assert obj is None and "no '{'" in err
    obj, err = SD.extract_json("{'a': 1}")
    assert obj is None and "line 1" in err
    assert SD.extract_json("{}")[0] is None


def test_selection_reads_numbers_and_names_in_order():
    mods = SD.parse_selection("I pick:\n29. Analyse and calculate\n- 9) Break it down\nAlso Step by step.\n"
                              "99. nothing\n29. again")
    assert [m.number for m in mods] == [29, 9, 38]
    assert SD.parse_selection("none of these") == []
    # A numbered list of module numbers (seen from Qwen2.5-Coder-1.5B): the list's enumerator is not a module.
    assert [m.number for m in SD.parse_selection("1. 17. Causes\n2. 19. Obstacles\n3) 20.")] == [17, 19, 20]
    assert SD.parse_adapted("1. first\n\n- second\n* third") == ["first", "second", "third"]


def test_answer_extraction_by_type():
    assert SD.extract_answer("13*11=143, 143-5=138. The answer is 138.") == "138"
    assert SD.extract_answer("The answer is 1,200 dollars, not 5.") == "1200"
    assert SD.extract_answer("we get 7 then 9") == "9"
    assert SD.extract_answer('gives 12.\nEnd with "The answer is <ANSWER>." where <ANSWER> is a number') == "12"
    assert SD.extract_answer("Alice has red... The answer is blue.", "choice", ["red", "blue"]) == "blue"
    assert SD.extract_answer("The answer is True, since not False is True", "choice", ["True", "False"]) == "True"
    assert SD.extract_answer("first blue then red", "choice", ["red", "blue"]) == "red"
    assert SD.extract_answer("Today 3/5/2020 so the answer is 3/9/2020.", "date") == "03/09/2020"
    assert SD.extract_answer("nothing", "date") is None
    assert SD.is_correct("138.0", "138") and not SD.is_correct(None, "1") and not SD.is_correct("x", "1")
    assert SD.is_correct("TRUE", "True", "choice") and SD.is_correct("03/09/2020", "03/09/2020", "date")


def test_discover_makes_three_visible_calls():
    lm = ScriptedLM()
    s = SD.discover(EXAMPLES, lm)
    assert s.ok and s.structure == PLAN and s.error == "" and s.notes == []
    assert [c.stage for c in s.calls] == ["select", "adapt", "implement"] and s.n_calls == 3
    assert s.prompts == {c.stage: c.prompt for c in s.calls} and lm.prompts == [c.prompt for c in s.calls]
    assert s.selected[0].startswith("9. Break it down:") and len(s.selected) == 3
    assert s.adapted == ["Break it down: find each quantity", "Analyse and calculate: do each operation"]
    assert all(ex in s.prompts["select"] for ex in EXAMPLES) and "39. Plan then execute" in s.prompts["select"]
    assert s.selected[1] in s.prompts["adapt"] and s.adapted[0] in s.prompts["implement"]
    assert json.loads(json.dumps(s.to_dict()))["n_calls"] == 3


def test_a_bad_plan_is_retried_once_with_the_error():
    lm = ScriptedLM(implement=["Steps: first add, then multiply", json.dumps(PLAN)])
    s = SD.discover(EXAMPLES, lm)
    assert s.ok and s.n_calls == 4 and s.calls[-1].stage == "implement retry"
    assert "no '{'" in s.prompts["implement retry"] and "Steps: first add" in s.prompts["implement retry"]
    assert s.notes and "asked once more" in s.notes[0]


def test_a_copy_of_the_format_example_is_no_plan():
    copy = json.dumps(SD.human_structure()["structure"])
    s = SD.discover(EXAMPLES, ScriptedLM(implement=[copy, json.dumps(PLAN)]))
    assert s.ok and s.structure == PLAN and s.n_calls == 4 and "copies the example" in s.prompts["implement retry"]
    s = SD.discover(EXAMPLES, ScriptedLM(implement=[copy]))
    assert not s.ok and "copies the example" in s.error


def test_a_plan_that_never_parses_gives_a_message_not_a_crash():
    s = SD.discover(EXAMPLES, ScriptedLM(implement=['{"a": "", "b"']))
    assert not s.ok and s.structure == {} and s.n_calls == 4 and "even after a retry" in s.error
    assert "not closed" in s.error
    with pytest.raises(InputError, match="no JSON plan"):
        SD.solve(s, "What is 2 + 2?", ScriptedLM())


def test_solve_fills_the_plan_and_counts_one_call():
    lm = ScriptedLM()
    s = SD.discover(EXAMPLES, lm)
    sol = SD.solve(s, "Lukas buys 13 packs of 11 stickers and gives away 5. How many are left?", lm)
    assert sol.answer == "138" and sol.filled == FILLED and sol.n_calls == 1 and sol.method == "self-discover"
    assert json.dumps(PLAN, indent=2) in sol.calls[0].prompt and "a single number" in sol.calls[0].prompt
    # Without an "answer is" line the plan's last value gives the answer.
    lm2 = ScriptedLM(solve=json.dumps({**FILLED, "Final answer": "the total is 138"}))
    assert SD.solve(s, "q?", lm2).answer == "138"


def test_baselines_count_their_calls():
    lm = ScriptedLM(cot_samples=["... The answer is 138.", "... The answer is 139.", "... The answer is 138."])
    assert SD.baseline("q?", lm, method="direct").answer == "140"
    cot = SD.baseline("q?", lm, method="cot")
    assert cot.answer == "138" and cot.n_calls == 1
    sc = SD.baseline("q?", lm, method="cot-sc", k=5)
    assert sc.n_calls == 5 and sc.answers == ["138", "139", "138", "138", "139"] and sc.answer == "138"
    assert sc.votes == {"138": 3, "139": 2}
    with pytest.raises(InputError, match="method must be"):
        SD.baseline("q?", lm, method="tot")
    with pytest.raises(InputError, match="between 1 and 64"):
        SD.baseline("q?", lm, method="cot-sc", k=0)


def test_inputs_are_checked():
    with pytest.raises(InputError, match="at least one"):
        SD.discover([], ScriptedLM())
    with pytest.raises(InputError, match="at most 5"):
        SD.discover(["a?"] * 6, ScriptedLM())
    with pytest.raises(InputError, match="Task example 2 is empty"):
        SD.discover(["a?", "  "], ScriptedLM())
    s = SD.discover(EXAMPLES, ScriptedLM())
    with pytest.raises(InputError, match="needs its options"):
        SD.solve(s, "q?", ScriptedLM(), answer_type="choice")
    with pytest.raises(InputError, match="Unknown task"):
        SD.load_task("chess")


def test_built_in_tasks_have_known_answers():
    for name in SD.task_names():
        t = SD.load_task(name)
        assert len(t.problems) >= 60 and all(p.answer for p in t.problems)
    objects = SD.load_task("shuffled_objects").problems
    assert all(p.answer in p.meta["options"] for p in objects)
    dates = SD.load_task("date_arithmetic").problems
    assert all(SD.DATE.fullmatch(p.answer) for p in dates)


def test_evaluation_counts_calls_per_instance():
    lm = ScriptedLM()
    ev = SD.evaluate("arithmetic", lm, n=4, n_examples=2, sc_k=None)
    # Self-Discover: 1 call per instance + 3 stage-1 calls over 4 instances; CoT-SC matched: ceil(7/4) = 2.
    assert ev.methods == ["direct", "cot", "self-discover", "cot-sc (k=2)"]
    assert ev.calls_per_instance == {"direct": 1, "cot": 1, "self-discover": 1.75, "cot-sc (k=2)": 2}
    assert ev.n == 4 and len(ev.records) == 4 and ev.structure.n_calls == 3
    examples = [p.question for p in SD.load_task("arithmetic").problems[-2:]]
    assert ev.structure.task_examples == examples  # discovered on problems that are not evaluated
    assert all(r["question"] not in examples for r in ev.records)
    assert json.loads(json.dumps(ev.to_dict()))["task"] == "arithmetic"
    assert 0 <= ev.accuracy["self-discover"] <= 1
    # A task whose plan never parses: Self-Discover scores 0 and still pays its 4 stage-1 calls.
    bad = SD.evaluate("boolean_expressions", ScriptedLM(implement=["no plan"]), n=2, n_examples=1, sc_k=[1])
    assert not bad.structure.ok and bad.accuracy["self-discover"] == 0 and bad.calls_per_instance["self-discover"] == 2


def test_the_real_decoding_path_runs_on_the_tiny_model(monkeypatch, one_thread):
    monkeypatch.setitem(SD.MAX_TOKENS, "cot", 8)
    lm = tiny_lm()
    comp = SD.ModelCompleter(lm)
    one = comp.complete("abc", max_new_tokens=5)
    assert len(one) == 1 and isinstance(one[0], str)
    a = comp.complete("abc", max_new_tokens=6, n=3, sample=True, seed=1)
    assert a == comp.complete("abc", max_new_tokens=6, n=3, sample=True, seed=1) and len(a) == 3
    sc = SD.baseline("what is 2 + 2?", lm, method="cot-sc", k=3)
    assert sc.n_calls == 3 and len(sc.answers) == 3


def test_evaluation_streams_reuses_a_structure_and_stops_at_its_cap():
    lm = ScriptedLM()
    snaps = list(SD.evaluate_iter("arithmetic", lm, n=3, n_examples=2, sc_k=[2, 5]))
    assert [s.n for s in snaps] == [0, 1, 2, 3] and snaps[-1].methods[-2:] == ["cot-sc (k=2)", "cot-sc (k=5)"]
    assert snaps[-1].calls_per_instance["cot-sc (k=5)"] == 5 and snaps[0].n == 0 and snaps[0].structure.ok
    # A structure discovered before is reused: no stage-1 call runs, its 3 calls still count.
    before = len(lm.prompts)
    ev = SD.evaluate("arithmetic", lm, n=3, sc_k=[1], structure=snaps[-1].structure)
    assert len(lm.prompts) - before == 3 * 4 and ev.calls_per_instance["self-discover"] == 2.0
    assert ev.structure is snaps[-1].structure
    # A spent budget ends the run between instances and says so.
    capped = SD.evaluate("arithmetic", lm, n=3, sc_k=[1], structure=ev.structure, time_budget_s=0.0)
    assert capped.n == 0 and capped.stopped == "time cap"
    with pytest.raises(SD.InputError, match="list of sample counts"):
        SD.evaluate("arithmetic", lm, n=2, sc_k="5")
    with pytest.raises(SD.InputError, match="Instances"):
        SD.evaluate("arithmetic", lm, n=0)


def test_a_plan_from_json_text_and_the_per_reply_token_limit():
    s = SD.plan_structure('Here:\n```json\n{"Count the items": "", "Final answer": "",}\n```')
    assert s.ok and list(s.structure) == ["Count the items", "Final answer"] and s.n_calls == 0
    for bad, msg in [("first think", "not a JSON object"), ("{}", "not a JSON object|non-empty"),
                     ({f"k{i}": "" for i in range(41)}, "keep it to 40")]:
        with pytest.raises(SD.InputError, match=msg):
            SD.plan_structure(bad)

    class Limits(ScriptedLM):
        def complete(self, prompt, *, max_new_tokens, **kw):
            self.limits = getattr(self, "limits", []) + [max_new_tokens]
            return super().complete(prompt, max_new_tokens=max_new_tokens, **kw)

    lm = Limits()
    SD.discover(EXAMPLES, lm, max_new_tokens=16)
    assert lm.limits == [16, 16, 16]
    SD.baseline("What is 2 + 2?", lm, method="direct", max_new_tokens=64)
    assert lm.limits[-1] == SD.MAX_TOKENS["direct"]  # a stage's own lower limit stands
    with pytest.raises(SD.InputError, match="Token limit per reply"):
        SD.solve(s, "What is 2 + 2?", lm, max_new_tokens=2)
