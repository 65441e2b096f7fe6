"""CoT-decoding on the packaged base model (Gemma-3-270M)."""
import pytest

from backends import cot_decoding as CD

pytestmark = pytest.mark.integration
QUESTION = "Tom has 4 marbles and buys 3 more. How many marbles does Tom have now?"


@pytest.fixture(scope="module")
def exploration(registry):
    return CD.explore(QUESTION, k=6, max_new_tokens=40)


def test_k_distinct_first_tokens_and_a_ranking_by_delta(exploration):
    ex = exploration
    assert ex.model == "gemma3-270m" and len(ex.paths) == 6
    assert len({p.first_token for p in ex.paths}) == 6
    assert [p.rank for p in ex.paths] == list(range(6))
    best = max(ex.paths, key=lambda p: p.delta)
    assert ex.max_path_answer == best.answer
    assert ex.greedy_answer == ex.paths[0].answer
    for p in ex.paths:
        assert len(p.tokens) == len(p.token_gaps) and all(0 <= g <= 1 for g in p.token_gaps)
        if p.answer_span:
            lo, hi = p.answer_span
            assert p.delta == pytest.approx(sum(p.token_gaps[lo:hi]) / (hi - lo))
            assert p.answer in "".join(p.tokens[slice(*p.answer_span)]).replace(",", "")


def test_batched_paths_equal_sequential_generate(registry, exploration):
    sequential = CD.decode_sequentially(QUESTION, k=6, max_new_tokens=40)
    tok = registry.get("base").tokenizer
    assert [tok.decode(ids) for ids in sequential] == [p.text for p in exploration.paths]


def test_branching_later_and_past_the_greedy_path(registry):
    ex = CD.explore(QUESTION, k=3, max_new_tokens=40, branch_step=2)
    assert ex.prefix and len(ex.paths) == 3
    with pytest.raises(CD.InputError, match="greedy path ends"):
        CD.explore("Q", k=2, max_new_tokens=60, branch_step=59)


def test_free_form_question_reads_the_extension(registry):
    ex = CD.explore("Was Abraham Lincoln born in an even or odd year?", k=3, max_new_tokens=32)
    assert ex.answer_type == "free"
    assert any(p.answer for p in ex.paths)
