"""Detector tab (placeholder until issue #3 lands)."""
from tabs.common import placeholder

TITLE = "Detector"


def build() -> None:
    placeholder(TITLE, 3, "Binoculars zero-shot detection of machine-generated text: the ratio of a text's perplexity to its cross-perplexity between two related models, with a per-token view, calibration and a built-in benchmark.")
