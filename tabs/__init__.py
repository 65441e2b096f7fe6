"""One module per tab. Each exposes ``TITLE`` (the tab label) and ``build()``, which lays out the
tab's components and wires its events inside the ``gr.Tab`` that ``app.py`` opens for it."""

# The order of the tabs in the app.
TAB_MODULES = (
    "detector",
    "cot",
    "early_exit",
    "bandits",
    "cosine",
    "rag",
    "framing",
    "models_tab",
)
