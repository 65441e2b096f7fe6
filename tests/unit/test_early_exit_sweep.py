"""The E x d sweep of self-speculative decoding ("speculation" kind), in-process on the tiny random model."""
import pytest

from backends import early_exit as EE
from backends import sweeps
from backends.config import InputError

PROMPT = "abc abc abc"


def test_items_and_options(tiny_registry):
    assert EE.speculation_items([4, 1, 4], [2, 1]) == [
        {"exit_layer": 1, "speculations": 1}, {"exit_layer": 1, "speculations": 2},
        {"exit_layer": 4, "speculations": 1}, {"exit_layer": 4, "speculations": 2}]
    with pytest.raises(InputError, match="Speculations d must be between 1 and 16"):
        EE.speculation_items([1], [17])
    with pytest.raises(InputError, match="at least one exit layer"):
        EE.speculation_items([], [2])
    opts = EE.speculation_options(PROMPT, "tiny-b", max_new_tokens=8, schedule="fixed")
    assert opts == {"prompt": PROMPT, "model": "tiny-b", "schedule": "fixed", "max_new_tokens": 8}
    with pytest.raises(InputError, match="Schedule: choose one of adaptive, fixed"):
        EE.speculation_options(PROMPT, "tiny-b", schedule="greedy")
    with pytest.raises(InputError, match="Prompt is empty"):
        EE.speculation_options("  ", "tiny-b")


@pytest.mark.parametrize("schedule", ["adaptive", "fixed"])
def test_sweep_fields_equal_self_speculative(tiny_registry, schedule):
    sw = EE.speculation_sweep(PROMPT, [1], [1, 3], "tiny-b", max_new_tokens=12, schedule=schedule)
    assert sw.sweep["backend"] == "local" and not sw.failed and not sw.missing and sw.exits == [1]
    assert [(r["exit_layer"], r["speculations"]) for r in sw.rows] == [(1, 1), (1, 3)]
    for row in sw.rows:
        ref = EE.self_speculative(PROMPT, "tiny-b", exit_layer=row["exit_layer"], num_speculations=row["speculations"],
                                  max_new_tokens=12, adaptive=schedule == "adaptive")
        assert row["identical"] is True is ref.identical
        assert (row["drafted"], row["accepted"], row["tokens"], row["steps"], row["plain_steps"]) == (
            ref.drafted, ref.accepted, len(ref.token_ids), len(ref.steps), ref.plain_steps)
        assert row["acceptance"] == pytest.approx(ref.acceptance_rate)
        assert row["seconds"] > 0 and row["greedy_seconds"] > 0
        assert row["speedup"] == pytest.approx(row["greedy_seconds"] / row["seconds"])
    assert sw.speedups().shape == (1, 2) and sweeps.round_trip(sw.rows) == sw.rows


def test_exit_layers_beyond_the_model_are_refused_up_front(tiny_registry):
    with pytest.raises(InputError, match="Exit layer E must be between 1 and 1"):
        EE.speculation_sweep(PROMPT, [1, 2], [2], "tiny-b", max_new_tokens=4)


def test_a_stopped_sweep_keeps_what_finished(tiny_registry):
    lm = tiny_registry.get("tiny-b")
    sw = EE.speculation_sweep(PROMPT, [1], [1, 2, 3], lm, max_new_tokens=4, time_budget_s=0)
    assert sw.stopped == "time cap" and len(sw.rows) == 1 and sw.missing == [(1, 2), (1, 3)]
    assert sw.speedups()[0, 1:].tolist() != sw.speedups()[0, 1:].tolist()  # NaN where nothing ran
    again = EE.speculation_sweep(PROMPT, [1], [1, 2, 3], lm, max_new_tokens=4, resume=True)
    assert again.sweep["resumed"] == 1 and len(again.rows) == 3 and again.rows[0] == sw.rows[0]


def test_the_tab_streams_progress_then_the_table(tiny_registry):
    from tabs import early_exit as tab

    outs = list(tab.run_sweep(PROMPT, "tiny-b", "1", "1, 2", 6, "fixed (paper)", "in-process", 1, False,
                              progress=lambda *a, **k: None))
    assert len(outs) >= 2 and all(len(o) == len(tab.SWEEP) for o in outs)
    first, last = tab.SWEEP.unpack(outs[0]), tab.SWEEP.unpack(outs[-1])
    assert "**Sweep:**" in first["report"]
    assert [row[:2] for row in last["table"]] == [[1, 1], [1, 2]] and all(row[4] is True for row in last["table"])
    assert "not comparable" in last["report"] and last["figure"] is not None
