"""Tab "Self-Discover" (issue #21): a placeholder until its tab lands."""
from __future__ import annotations

from tabs.common import placeholder

TITLE = "Self-Discover"
SUMMARY = ("Self-Discover (Zhou et al. 2024): the model picks, adapts and implements reasoning modules as a JSON"
           " structure for a task, then fills it in per instance; against direct, CoT and CoT with self-consistency.")


def build() -> None:
    placeholder(TITLE, 21, SUMMARY)
