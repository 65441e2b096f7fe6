"""CoT-decoding pieces: Delta, answer extraction, aggregation, batched == sequential decoding."""
import numpy as np
import pytest
import torch

from backends import cot_decoding as CD
from backends import lm as L
from tests.fakes import tiny_lm


def test_confidence_gap_on_hand_made_probabilities():
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(CD.confidence_gaps(probs), [0.3, 0.4, 0.0])


def test_answer_extraction_takes_the_last_number():
    assert CD.find_number_answer("3 + 5 = 8 apples, so she has 8.")[0] == "8"
    assert CD.find_number_answer("It costs 1,200.50 dollars")[0] == "1200.5"
    assert CD.find_number_answer("no digits here") is None
    text = "We get 12 and then 30"
    value, start, end = CD.find_number_answer(text)
    assert value == "30" and text[start:end] == "30"
    assert CD.normalise_number("5.0") == "5" and CD.normalise_number("-3") == "-3"


def test_free_answers_and_correctness():
    assert CD.clean_free_answer(" odd. Lincoln was born in 1809") == "odd"
    assert CD.clean_free_answer(' "Yes", because') == "yes"
    assert CD.is_correct("an odd year", "odd") and not CD.is_correct("even", "odd")
    assert CD.is_correct("8", "8.0") and not CD.is_correct(None, "8")


def test_token_spans_map_characters_to_tokens():
    cumulative = ["The", "The answer", "The answer is", "The answer is 4", "The answer is 42"]
    spans = CD.token_offsets(cumulative)
    assert spans == [(0, 3), (3, 10), (10, 13), (13, 15), (15, 16)]
    assert CD.span_tokens(spans, 14, 16) == (3, 5)
    assert CD.span_tokens(spans, 100, 101) is None


def test_aggregation_sums_delta_per_answer():
    best, votes = CD.aggregate(["8", "5", "8", None, "5", "5"], [0.4, 0.3, 0.35, 0.9, 0.1, 0.2])
    assert votes == pytest.approx({"8": 0.75, "5": 0.6})
    assert best == "8"  # the max path alone would pick 8 too (0.4), but 5 has more paths
    assert CD.aggregate([None], [1.0]) == (None, {})


def test_reasoning_heuristic_and_wilson_interval():
    assert CD.has_reasoning("3 + 5 = ") and CD.has_reasoning("She had 3 and bought 5, so ")
    assert not CD.has_reasoning(" The answer is ")
    lo, hi = CD.wilson(5, 10)
    assert lo < 0.5 < hi and 0 <= lo and hi <= 1
    assert CD.wilson(0, 10)[0] == 0.0


def test_batched_greedy_equals_one_row_at_a_time():
    m = tiny_lm(seed=2)
    prompt = torch.tensor([m.tokenizer("abc abc")["input_ids"]])
    rows = torch.cat([prompt.repeat(4, 1), torch.tensor([[5], [6], [7], [8]])], dim=1)
    stop = lambda ids: len(ids) >= 3 and ids[-1] == ids[-2]  # noqa: E731 - rows stop at different steps
    seqs, gaps = L.greedy_continue(m, rows, 12, stop=stop)
    for r in range(4):
        alone, alone_gaps = L.greedy_continue(m, rows[r:r + 1], 12, stop=stop)
        assert seqs[r] == alone[0]
        np.testing.assert_allclose(gaps[r], alone_gaps[0], atol=1e-5)
    # ...and equal to transformers' own greedy generate, token for token.
    with torch.no_grad():
        ref = m.model.generate(rows[:1], attention_mask=torch.ones_like(rows[:1]), do_sample=False,
                               max_new_tokens=len(seqs[0]), pad_token_id=0, eos_token_id=None)
    assert ref[0, rows.shape[1]:].tolist() == seqs[0]
    assert all(0 <= g <= 1 for row in gaps for g in row)


def test_a_path_ends_where_the_qa_turn_ends():
    # An instruction model lists choices after its answer; a base model invents the next question.
    assert CD.turn_end(" 3 + 5 = 8. The answer is 8.\nB: 9\nC: 10") == len(" 3 + 5 = 8. The answer is 8.")
    assert CD.turn_end(" 8\nQ: How many pears?") == 2
    assert CD.turn_end(" First 3 apples, then 5 more: 8 apples.") is None  # "more: 8" is no new turn
    assert CD.turn_end(" 8\n\n\nWhatever") == 2
    found = CD.find_number_answer(" 3 + 5 = 8.\nB: 9"[:CD.turn_end(" 3 + 5 = 8.\nB: 9")])
    assert found[0] == "8"


class _Pieces:
    """A tokenizer stand-in: id i decodes to PIECES[i] (some pieces hold newlines, some a whole stop string)."""

    PIECES = ["a", " b", "\n", "B", ":", "\nC:", "x\n\n", "Q", " 7"]

    def decode(self, ids):
        return "".join(self.PIECES[i] for i in ids)


def test_stop_rule_decodes_only_near_newlines_and_agrees_with_the_plain_rule():
    import random
    import types

    lm = types.SimpleNamespace(tokenizer=_Pieces())
    stop = CD.stop_rule(lm)
    rng = random.Random(0)
    for _ in range(3000):
        ids = [rng.randrange(len(_Pieces.PIECES)) for _ in range(rng.randint(1, 14))]
        tail = lm.tokenizer.decode(ids[-8:])
        assert stop(ids) == any(s in tail for s in CD.STOP_STRINGS), ids
    assert stop([0, 2, 3, 4]) and stop([5]) and not stop([0, 1, 8, 3, 4])


@pytest.fixture(scope="module")
def lm():
    return tiny_lm(seed=3)


def test_branches_batched_equal_one_row_at_a_time(lm):
    b = CD.branch(lm, CD.format_prompt("what is 2 and 3?", lm), k=4)
    assert len(set(b.branch_ids)) == 4 and 0 <= b.first_gap <= 1 and b.state.rows == 1
    batched = CD.continue_branches(lm, b, 12)
    rows = CD.continue_branches(lm, b, 12, one_row_at_a_time=True)
    assert batched.ids == rows.ids
    for g, h in zip(batched.gaps, rows.gaps):
        np.testing.assert_allclose(g, h, atol=1e-5)
    # ... and each row equals the prompt and its branch token decoded from scratch.
    for first, cont in zip(b.branch_ids, batched.ids):
        alone = CD.continue_greedily(lm, [b.prompt_ids + [first]], 12)
        assert alone.ids[0] == cont


def test_explore_takes_a_loaded_model_and_a_time_budget(lm):
    ex = CD.explore("what is 2 and 3?", lm, k=3, max_new_tokens=10)
    assert ex.model == lm.name and [p.rank for p in ex.paths] == [0, 1, 2]
    assert all(len(p.tokens) == len(p.token_gaps) for p in ex.paths)
    with pytest.raises(CD.InputError, match="no chat template; use the QA format"):
        CD.explore("what is 2 and 3?", lm, k=2, max_new_tokens=8, chat=True)
    from backends.decoding import TimeBudgetError

    with pytest.raises(TimeBudgetError):
        CD.explore("what is 2 and 3?", lm, k=2, max_new_tokens=40, time_budget_s=-1)


def test_self_consistency_is_reproducible_and_leaves_the_global_seed_alone(lm):
    state = torch.get_rng_state()
    a = CD.self_consistency("what is 2 and 3?", lm, n=4, max_new_tokens=10, seed=5)
    b = CD.self_consistency("what is 2 and 3?", lm, n=4, max_new_tokens=10, seed=5)
    assert a == b and len(a[1]) == 4
    assert torch.equal(torch.get_rng_state(), state)
