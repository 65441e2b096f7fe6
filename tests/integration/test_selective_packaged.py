"""ASPIRE on the packaged tiny models: the whole evaluation on a few questions, and soft-prompt training."""
import math

import numpy as np
import pytest

from backends.selective import SCORES, evaluate_selective
from backends.selective.evaluate import Item, answer_question
from backends.selective.soft_prompt import Example, Judge, train_soft_prompt

pytestmark = pytest.mark.integration


def test_evaluate_selective_tiny(registry):
    lm = registry.get("base")
    s = evaluate_selective("cot", lm, n_samples=2, limit=3, max_new_tokens=8, n_boot=20)
    assert s.n == 3 and len(s.correct) == 3 and set(s.scores) == set(SCORES)
    for k in SCORES:
        assert len(s.scores[k]) == 3 and all(math.isfinite(v) for v in s.scores[k])
        assert s.curves[k].coverage[-1] == pytest.approx(1.0)
        assert s.auacc[k] == pytest.approx(float(np.mean(s.curves[k].accuracy)))
    assert all(0.0 < v < 1.0 for v in s.scores["self_eval"])  # P(Yes) normalised over Yes/No
    assert all(len(a.samples) == 2 for a in s.answered)
    assert "number match" in s.rule


def test_samples_are_seeded(registry):
    lm = registry.get("base")
    item = Item("t", "What is 2 + 3?", ("5",))
    one = answer_question(lm, item, 3, seed=7, max_new_tokens=6)
    two = answer_question(lm, item, 3, seed=7, max_new_tokens=6)
    assert one[2] == two[2] and one[3] == pytest.approx(two[3])


def test_soft_prompt_training_lowers_the_loss(registry):
    lm = registry.get("chat")  # the smallest packaged LM: float32, so autograd runs through it
    q = Item("t", "What is 2 + 3?", ("5",))
    r = Item("u", "What is 4 + 4?", ("8",))
    examples = [Example(q, "5", True), Example(q, "7", False), Example(r, "8", True), Example(r, "12", False)]
    judge = Judge(lm, 4)
    theta, losses, stopped = train_soft_prompt(judge, examples, epochs=3, lr=0.02, batch_size=4, seed=0)
    assert not stopped and len(losses) == 4
    assert losses[-1] < losses[0]
    assert theta.shape == judge.init.shape and not np.allclose(theta.numpy(), judge.init.numpy())
