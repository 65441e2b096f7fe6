"""Tab "Model graph" (issue #21): a placeholder until its tab lands."""
from __future__ import annotations

from tabs.common import placeholder

TITLE = "Model graph"
SUMMARY = ("A graph of models (Octopus v4, Chen & Li 2024): a router sends each query, rewritten, to the specialist"
           " model it picks; routing accuracy and answers against one model for everything.")


def build() -> None:
    placeholder(TITLE, 21, SUMMARY)
