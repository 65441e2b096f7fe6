"""Bandit playground tab (placeholder until issue #6 lands)."""
from tabs.common import placeholder

TITLE = "Bandit playground"


def build() -> None:
    placeholder(TITLE, 6, "An LLM as a multi-armed bandit agent against UCB and Thompson sampling, with the paper's prompt designs and failure statistics.")
