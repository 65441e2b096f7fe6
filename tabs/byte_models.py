"""Tab "Byte models" (issue #20): a placeholder until its method lands."""
from __future__ import annotations

from tabs.common import placeholder

TITLE = "Byte models"
SUMMARY = ("bGPT (Wu et al. 2024): a byte-level model with 16-byte patches trained here on text, CSV, JSON, "
           "bitmaps and toy CPU traces, in bits per byte against gzip and zstd.")


def build() -> None:
    placeholder(TITLE, 20, SUMMARY)
