"""Tab "Copying" (issue #20): a placeholder until its method lands."""
from __future__ import annotations

from tabs.common import placeholder

TITLE = "Copying"
SUMMARY = ("Repeat After Me (Jelassi et al. 2024): transformers copy long strings that fixed-state recurrent "
           "models cannot; tiny models trained here and the packaged LMs on copy and phone-book lookup.")


def build() -> None:
    placeholder(TITLE, 20, SUMMARY)
