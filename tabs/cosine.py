"""Cosine-similarity sandbox tab (placeholder until issue #7 lands)."""
from tabs.common import placeholder

TITLE = "Cosine-similarity sandbox"


def build() -> None:
    placeholder(TITLE, 7, "How an arbitrary rescaling of learned embeddings changes their cosine similarities while the model's predictions stay the same.")
