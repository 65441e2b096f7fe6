"""Sparse upcycling: being built (issue #18)."""
from __future__ import annotations

from tabs.common import placeholder

TITLE = "Sparse upcycling"
SUMMARY = ("Sparse upcycling (Komatsuzaki et al. 2023): dense MLPs become a mixture of copied experts with a new"
           " router, then continued training.")


def build() -> None:
    placeholder(TITLE, 18, SUMMARY)
