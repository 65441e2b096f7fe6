import math

import pytest

from backends import config
from backends.config import InputError, check_count, check_number, check_text


def test_check_text_strips_and_removes_nul():
    assert check_text("  a\x00b \n") == "ab"


@pytest.mark.parametrize("bad", ["", "   \n\t", None, "\x00\x00"])
def test_check_text_rejects_empty(bad):
    with pytest.raises(InputError, match="empty"):
        check_text(bad)


def test_check_text_rejects_non_string():
    with pytest.raises(InputError, match="must be text"):
        check_text(123)


def test_check_text_rejects_over_limit_with_numbers_in_message():
    lim = config.Limits(max_text_chars=10)
    with pytest.raises(InputError, match=r"11 characters long; the limit is 10"):
        check_text("x" * 11, lim=lim)
    assert check_text("x" * 10, lim=lim) == "x" * 10


@pytest.mark.parametrize("bad", [0, -1, 10_000_000, 2.5, float("nan"), float("inf"), "abc", None])
def test_check_count_rejects(bad):
    with pytest.raises(InputError):
        check_count(bad, what="Arms", low=1, high=100)


def test_check_count_accepts_integral_floats_and_strings():
    assert check_count(5.0, what="k", high=10) == 5
    assert check_count("7", what="k", high=10) == 7


def test_check_number_bounds():
    assert check_number("0.5", what="t", low=0, high=1) == 0.5
    for bad in (math.nan, math.inf, -0.1, 1.1, "x"):
        with pytest.raises(InputError):
            check_number(bad, what="t", low=0, high=1)


def test_public_mode_tightens_limits(monkeypatch):
    monkeypatch.setattr(config, "_public_mode", False)
    default = config.limits()
    config.set_public_mode(True)
    try:
        public = config.limits()
    finally:
        config.set_public_mode(False)
    assert public.max_text_chars < default.max_text_chars
    assert public.max_tokens < default.max_tokens
    assert public.time_budget_s < default.time_budget_s


def test_env_overrides_limits(monkeypatch):
    monkeypatch.setenv("WORKBENCH_MAX_TEXT_CHARS", "123")
    monkeypatch.setenv("WORKBENCH_TIME_BUDGET_S", "2.5")
    lim = config.limits()
    assert lim.max_text_chars == 123 and lim.time_budget_s == 2.5
    monkeypatch.setenv("WORKBENCH_MAX_TOKENS", "-4")
    with pytest.raises(InputError, match="positive"):
        config.limits()
