"""Framing analysis tab (placeholder until issue #9 lands)."""
from tabs.common import placeholder

TITLE = "Framing analysis"


def build() -> None:
    placeholder(TITLE, 9, "Tone, frames and metaphors in 230 years of US presidential speeches about immigration.")
