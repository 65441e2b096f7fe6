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


def sweep_controls(default_workers: int = 2) -> tuple[gr.Radio, gr.Slider, gr.Checkbox]:
    """The backend choice every long evaluation offers (see backends/sweeps.py): in-process or Ray workers,
    how many, and whether to resume from an earlier run's saved items. Returns (backend, workers, resume)."""
    import os

    from backends.sweeps import ray_address

    remote = ray_address()
    most = 32 if remote else max(1, min(8, os.cpu_count() or 1))
    where = f"the Ray cluster at {remote}" if remote else "Ray workers on this machine"
    with gr.Row():
        backend = gr.Radio(["in-process", "Ray"], value="in-process", label="Run on",
                           info=f"Ray: {where}, each loading its own copy of the models; same results")
        workers = gr.Slider(1, most, value=min(default_workers, most), step=1, label="Ray workers",
                            info="fewer start where free memory is short")
        resume = gr.Checkbox(False, label="Resume",
                             info="reuse the items an earlier run with the same settings finished")
    return backend, workers, resume
