"""The "More papers" tab: an overview of every paper in the workbench, then one sub-tab per further paper.

The seven product tabs stay at the top level; papers added later are grouped here (tabs.MORE_PAPERS),
so the tab bar stays short on a laptop or a projector.
"""
from __future__ import annotations

import importlib

import gradio as gr

from tabs import MORE_PAPERS, PAPER_TABS

TITLE = "More papers"
SUMMARY = "An overview of every paper here, and the further papers of the collection, one sub-tab each."


def _module(name: str):
    return importlib.import_module(f"tabs.{name}")


def overview_markdown() -> str:
    """Every paper tab with what it shows: the seven at the top level, then the ones grouped here."""
    def rows(names):
        return "\n".join(f"| **{_module(n).TITLE}** | {_module(n).SUMMARY} |" for n in names)

    return ("### Every paper in the workbench\n\n"
            "| Tab | The paper, and what its tab shows |\n|---|---|\n" + rows(PAPER_TABS) + "\n\n"
            "**Grouped below** (open a sub-tab):\n\n"
            "| Tab | The paper, and what its tab shows |\n|---|---|\n" + rows(MORE_PAPERS))


def build() -> None:
    with gr.Tabs():
        with gr.Tab("Overview", id="more_overview"):
            gr.Markdown(overview_markdown())
        for name in MORE_PAPERS:
            module = _module(name)
            with gr.Tab(module.TITLE, id=name):
                module.build()
