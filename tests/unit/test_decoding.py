"""The shared decoding toolkit on a tiny random Llama: padding, the batched loop, prefixes, deadlines."""
import time

import pytest
import torch

from backends import decoding as DC
from tests.fakes import tiny_lm


@pytest.fixture(scope="module")
def model():
    return tiny_lm()


def _prompts(model, texts):
    return [model.tokenizer(t)["input_ids"] for t in texts]


def _reference_greedy(model, ids, n):
    """One row at a time, full forward every step: the slow obvious way."""
    out = list(ids)
    with torch.no_grad():
        for _ in range(n):
            nxt = int(model.model(torch.tensor([out])).logits[0, -1].argmax())
            out.append(nxt)
    return out[len(ids):]


def test_pad_batch_left_and_right():
    left = DC.pad_batch([[1, 2, 3], [4]], pad=0, side="left")
    assert left.ids.tolist() == [[1, 2, 3], [0, 0, 4]]
    assert left.mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert left.positions.tolist() == [[0, 1, 2], [0, 0, 0]]
    right = DC.pad_batch([[1, 2, 3], [4]], pad=9, side="right")
    assert right.ids.tolist() == [[1, 2, 3], [4, 9, 9]] and right.lengths == [3, 1]
    with pytest.raises(ValueError):
        DC.pad_batch([[1]], pad=0, side="middle")


def test_batched_greedy_matches_one_row_at_a_time(model):
    prompts = _prompts(model, ["the cat sat on", "a", "numbers: 1 2 3 4 5 6"])
    out = DC.decode(model, prompts, 6, stop_ids=set())
    for p, got in zip(prompts, out.ids):
        assert got == _reference_greedy(model, p, 6)  # left padding changes nothing
    assert all(len(g) == len(i) for g, i in zip(out.gaps, out.ids))
    assert all(0.0 <= g <= 1.0 for row in out.gaps for g in row)


def test_stop_rule_keeps_its_token_and_stop_ids_drop_theirs(model):
    p = _prompts(model, ["the cat sat on"])
    free = DC.decode(model, p, 6, stop_ids=set()).ids[0]
    ruled = DC.decode(model, p, 6, stop_ids=set(), stop=lambda ids: len(ids) == 2)
    assert ruled.ids[0] == free[:2] and ruled.finished == [True]
    dropped = DC.decode(model, p, 6, stop_ids={free[0]})
    assert dropped.ids[0] == [] and dropped.finished == [True]
    both = DC.decode(model, _prompts(model, ["the cat sat on", "x y"]), 6, stop_ids=set(),
                     stop=lambda ids: len(ids) == 1)
    assert [len(r) for r in both.ids] == [1, 1]


def test_sampling_is_reproducible_for_a_seed(model):
    p = _prompts(model, ["hello", "world peace"])

    def run(seed):
        g = torch.Generator().manual_seed(seed)
        return DC.decode(model, p, 8, sample=True, generator=g, stop_ids=set()).ids

    assert run(3) == run(3)
    assert any(run(s) != run(3) for s in (4, 5, 6))


def test_prefill_forks_are_independent(model):
    pre = DC.prefill(model, _prompts(model, ["abc", "a longer prompt here"]))
    a = DC.decode(model, pre, 5, stop_ids=set()).ids
    b = DC.decode(model, pre, 5, stop_ids=set()).ids  # the prefill was forked, not consumed
    assert a == b
    one = pre.fork(rows=[1], repeat=2)
    assert one.rows == 2 and DC.decode(model, one, 5, stop_ids=set()).ids == [a[1], a[1]]


def test_prefix_cache_runs_only_new_tokens_and_matches_a_full_pass(model):
    ids = _prompts(model, ["one two three four five six"])[0]
    pc = DC.PrefixCache(model)
    first = pc.next_logits(ids)
    longer = ids + ids[1:4]
    logits = pc.next_logits(longer)
    assert pc.tokens_run == len(ids) + 3
    with torch.no_grad():
        full = model.model(torch.tensor([longer])).logits[0, -1].float()
    torch.testing.assert_close(logits, full, atol=1e-4, rtol=1e-4)
    assert first.shape == full.shape


def test_deadline():
    assert not DC.Deadline(None).expired and DC.Deadline(None).remaining() == float("inf")
    DC.Deadline(None).check()
    with pytest.raises(DC.TimeBudgetError, match="too slow"):
        DC.Deadline(0.0).check("too slow") if time.sleep(0.001) is None else None
    past = DC.Deadline.of(time.monotonic() - 1)  # a monotonic time, as deadline= arguments take
    assert past.expired and DC.Deadline.of(past) is past and not DC.Deadline.of(None).expired


def test_decode_stops_at_the_deadline(model):
    with pytest.raises(DC.TimeBudgetError):
        DC.decode(model, _prompts(model, ["abc"]), 20, stop_ids=set(), deadline=time.monotonic() - 1)


def test_chat_text_without_a_template(model):
    assert DC.chat_text(model, "Q?", system="Be brief.") == "Be brief.\n\nQ?\n\nAnswer: "
    assert DC.chat_ids(model, "Q?", chat=False)[0] == model.tokenizer.bos_token_id
    with pytest.raises(DC.InputError, match="no chat template"):
        DC.chat_text(model, "Q?", chat=True)


def test_common_prefix():
    assert DC.common_prefix([[1, 2, 3], [1, 2, 4], [1, 2]]) == 2
    assert DC.common_prefix([[1, 2, 3], [1, 2, 3]], limit=2) == 2
    assert DC.common_prefix([[5], [6]]) == 0 and DC.common_prefix([[1, 2], [1, 2]], limit=-1) == 0


def test_a_deadline_refuses_a_budget_that_is_not_a_number():
    from backends.config import InputError
    from backends.decoding import Deadline

    for bad in ("", "soon", float("nan"), [], {}):
        with pytest.raises(InputError, match="time budget must be a number"):
            Deadline(bad)
    assert Deadline("2").seconds == 2.0 and Deadline(-1).expired and not Deadline(None).expired


def test_model_loads_are_no_part_of_a_time_budget():
    """A budget counts the request's own work: time in not_counted() (the registry's loads and conversions, or the
    wait for another request's) extends it, in this thread only."""
    import threading
    import time

    from backends.decoding import Deadline, not_counted

    d = Deadline(0.3)
    with not_counted():
        time.sleep(0.4)
    assert not d.expired and d.remaining() > 0.1
    other = []
    t = threading.Thread(target=lambda: other.append(Deadline(0.05)))
    t.start()
    t.join()
    with not_counted():  # another thread's budget is not extended by this thread's loads
        time.sleep(0.1)
    assert other[0].expired
    time.sleep(0.3)
    assert d.expired


def test_a_deadline_waits_out_a_registry_load(monkeypatch, tmp_path):
    import time

    from backends import models
    from backends.decoding import Deadline

    reg = models.ModelRegistry("tiny", cache_dir=tmp_path, device="cpu")
    monkeypatch.setattr(reg, "_load", lambda spec, progress: time.sleep(0.4) or object())
    d = Deadline(0.2)
    reg.get("chat")
    d.check()  # the 0.4 s load did not spend the 0.2 s budget
