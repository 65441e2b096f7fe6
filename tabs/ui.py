"""Layout pieces several tabs build the same way: the introduction with the profile's note, explanations.

Small on purpose: a tab still lays out its own components; these are the few blocks that read the same
in every tab, written once so that they stay alike.
"""
from __future__ import annotations

import gradio as gr

from backends.models import ModelRegistry, registry


def explain(text: str) -> gr.Markdown:
    """A paragraph that explains what the user sees (styled as an explanation)."""
    return gr.Markdown(text, elem_classes=["explain"])


def intro(text: str, notes: dict[str, str] | None = None) -> ModelRegistry:
    """The tab's introduction, then the note for the running model profile where the tab has one.

    Returns the registry, which a tab's ``build()`` usually needs next (model lists, slots).
    """
    reg = registry()
    gr.Markdown(text)
    if notes and reg.profile in notes:
        explain(notes[reg.profile])
    return reg
