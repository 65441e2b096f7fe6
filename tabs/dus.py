"""Depth up-scaling: being built (issue #18)."""
from __future__ import annotations

from tabs.common import placeholder

TITLE = "Depth up-scaling"
SUMMARY = ("SOLAR (Kim et al. 2023): depth up-scaling by stacking two trimmed copies of a model, then continued "
           "pretraining.")


def build() -> None:
    placeholder(TITLE, 18, SUMMARY)
