"""1.58-bit weights: being built (issue #18)."""
from __future__ import annotations

from tabs.common import placeholder

TITLE = "1.58-bit weights"
SUMMARY = ("BitNet b1.58 (Ma et al. 2024): ternary absmean weights and 8-bit activations; post-training "
           "ternarisation against training 1.58-bit from scratch.")


def build() -> None:
    placeholder(TITLE, 18, SUMMARY)
