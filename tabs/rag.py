"""RAG QA tab (placeholder until issue #8 lands)."""
from tabs.common import placeholder

TITLE = "RAG QA"


def build() -> None:
    placeholder(TITLE, 8, "Retrieval-augmented answers with RAG-Sequence and RAG-Token marginalisation over retrieved passages.")
