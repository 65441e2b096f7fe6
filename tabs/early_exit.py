"""Early-exit token viewer tab (placeholder until issue #5 lands)."""
from tabs.common import placeholder

TITLE = "Early-exit token viewer"


def build() -> None:
    placeholder(TITLE, 5, "LayerSkip-style per-layer predictions (logit lens), early exit and lossless self-speculative decoding.")
