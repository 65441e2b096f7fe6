"""One module per tab. Each exposes ``TITLE`` (the tab label), ``SUMMARY`` (one line: the paper and what
its tab shows, for the overview) and ``build()``, which lays out the tab's components and wires its
events inside the ``gr.Tab`` that ``app.py`` (or the group tab) opens for it."""

# The product's seven paper tabs, each one click away, in this order.
PAPER_TABS = (
    "detector",
    "cot",
    "early_exit",
    "bandits",
    "cosine",
    "rag",
    "framing",
)

# Further papers of the collection, as sub-tabs of the "More papers" tab (tabs/more_papers.py).
MORE_PAPERS = (
    "gptscore",
    "selective",
    "ewok",
    "bitnet",
    "dus",
    "upcycling",
    "copying",
    "byte_models",
    "lte",
    "self_discover",
    "model_graph",
)

# The top-level tabs, in order: the seven papers, the group of further papers, the models.
TAB_MODULES = (*PAPER_TABS, "more_papers", "models_tab")
