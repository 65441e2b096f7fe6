"""Tab "Parallel low-rank training" (issue #20): a placeholder until its method lands."""
from __future__ import annotations

from tabs.common import placeholder

TITLE = "Parallel low-rank training"
SUMMARY = ("LoRA-the-Explorer (Huh et al. 2024): several LoRA heads trained in parallel and merged every T steps"
           " train a network from scratch, against full-rank training and one LoRA.")


def build() -> None:
    placeholder(TITLE, 20, SUMMARY)
