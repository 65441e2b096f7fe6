"""What the load driver (bench/bench_load.py) sends: one valid, cheap request per API endpoint, and the
endpoints it leaves out with the reason.

A new tab endpoint gets an entry in EXAMPLES (or in SKIP, with a reason): tests/app/test_load_small.py
fails for an endpoint the app lists that has neither.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

TEXT = ("The history of the United States begins with the arrival of the first people in the Americas "
        "thousands of years ago, long before the colonies.")
CSV_ROWS = ("text,label\nThe cat sat on the mat and watched the birds outside the kitchen window.,human\n"
            "Paperclips are small pieces of bent wire that hold sheets of paper together.,machine\n")
FRAMING_ROWS = ("text,year,party\n"
                '"We welcome immigrants who come to work and build families here.",1990,Democratic\n'
                '"Illegal immigration burdens our border towns and must be stopped.",1995,Republican\n'
                '"Refugees fleeing persecution deserve our protection.",2001,Democratic\n')


@dataclass(frozen=True)
class Example:
    """A valid request for one endpoint, cheap enough to send hundreds of times."""

    args: Callable[[], tuple]  # called per request (file arguments need a fresh handle)
    weight: float = 1.0  # relative frequency in the mixed sequence
    after: str | None = None  # an endpoint this one needs first in the same session (gr.State)


SMOL = "smollm2-135m-instruct"
GEMMA = "gemma3-270m"
SOTU = "State of the Union addresses (1790-2026)"


def upload(name: str, text: str) -> Any:
    """A gradio_client file argument for a small CSV (written once to the temporary folder)."""
    from gradio_client import handle_file

    path = Path(tempfile.gettempdir()) / f"workbench-load-{name}.csv"
    if not path.exists():
        path.write_text(text)
    return handle_file(str(path))


# api_name -> a valid, cheap request. The heavy lane (one model call at a time) dominates the run time,
# so model endpoints get short inputs and the light endpoints a larger weight.
EXAMPLES: dict[str, Example] = {
    # Detector (#2)
    "/detect": Example(lambda: (TEXT, SMOL, SMOL, "observer", "default for this pair", 0.9), 2),
    "/detect_batch": Example(lambda: (upload("upload", CSV_ROWS), SMOL, SMOL, "observer", 1.0), 1),
    # CoT path explorer (#3)
    "/cot_explore": Example(lambda: ("What is 2 plus 3?", GEMMA, 1, 0, 8, "number"), 0.5),
    # Early-exit viewer (#4)
    "/early_exit_lens": Example(lambda: ("The capital of France is Paris.", SMOL, 3, "top-1 probability"), 1),
    "/early_exit_generate": Example(lambda: ("The capital of France is", SMOL, 12, 2, 4), 0.3),
    "/early_exit_sweep": Example(lambda: ("The capital of France is", SMOL, "12", "2", 4, "adaptive", "in-process", 1,
                                          False), 0.3),
    "/bandit_grid": Example(lambda: ("hard", 5, 0.2, "", 0, ["ucb"], 50, 1.0, 0.1, SMOL, 16, "BNRN0", 4, 1,
                                     "in-process", 1, False), 0.3),
    # Cosine sandbox (#7)
    "/cosine_experiment": Example(lambda: ("tiny (500 users, 100 items, 4 clusters)", 0, 10, 10000, 100, False,
                                           False), 1),
    "/cosine_alpha": Example(lambda: (0.7,), 2, after="/cosine_experiment"),
    "/cosine_embeddings": Example(lambda: ("A cat sits on the mat.\nA kitten rests on the rug.\nStocks fell today.",
                                           1.0, 0), 2),
    # Models tab
    "/models_load": Example(lambda: (SMOL,), 1),  # already loaded: answers at once
    "/models_list": Example(lambda: (), 2),
    "/loaded_table": Example(lambda: (), 1),
    "/models_ready": Example(lambda: (), 1),  # the warm-up's line (empty: the test app has no warm-up)
    "/models_memory": Example(lambda: (), 1),
    "/memory_markdown": Example(lambda: (), 1),
    # ---- Tabs of issues #6 (bandits), #8 (RAG) and #9 (framing). ----
    "/bandit_prompt": Example(lambda: ("BNRN0", 5, 100), 1),
    # Baselines only: an LLM agent plays hundreds of rounds (minutes), which is that tab's own benchmark.
    "/bandit_run": Example(lambda: ("hard", 5, 0.2, "", 50, 200, ["ucb", "ts", "greedy"], [], 1, SMOL, 16,
                                    1.0, 0.1, 0), 0.5),
    "/rag_index": Example(lambda: (SOTU, None, "", "flat"), 0.5),
    "/rag_answer": Example(lambda: ("What did Lincoln say about emancipation in 1862?", SOTU, None, "", "flat", 2,
                                    "token", 0.1, 8), 0.5),
    "/rag_evaluate": Example(lambda: (1, 3, ["none"], 0.1, 4), 0.3),  # retrieval only, one question
    "/framing_corpus": Example(lambda: (2000, 2010, 5), 0.5),
    "/framing_explore": Example(lambda: (2000, 2010, "any", "any", "any", "any", "any"), 0.5),
    "/framing_text": Example(lambda: ("Immigrants built this nation, and their families enrich our towns and "
                                      "our schools.", False), 1),
    "/framing_upload": Example(lambda: (upload("framing", FRAMING_ROWS), 5), 0.3),
    # ---- Tabs of issue #17 (More papers: GPTScore, selective prediction, EWoK). ----
    "/gptscore_definition": Example(lambda: ("fluency",), 1),
    "/gptscore_score": Example(lambda: ("The senate passed the bill on Tuesday.", "", "The bill passed on Tuesday.",
                                        "", "Tuesday bill the on passed.", "", SMOL, "IST", "src->hypo", "fluency",
                                        "", "mean"), 0.5),
    "/ewok_pair": Example(lambda: ("The piano is in front of Ali. Ali turns left.",
                                   "The piano is in front of Ali. Ali turns right.", "The piano is right of Ali.",
                                   "The piano is left of Ali.", SMOL), 0.5),
    # ---- Tabs of issue #18 (model surgery). ----
    "/bitnet_storage": Example(lambda: (SMOL,), 0.5),  # counts weights, no forward pass
    "/dus_plan": Example(lambda: (8, 2), 2),  # arithmetic only
    # ---- Tabs of issue #21 (Self-Discover, Model graph). ----
    "/self_discover_task": Example(lambda: ("boolean_expressions",), 1),  # the task's examples, no model call
    "/model_graph_route": Example(lambda: ("Can you recommend a board game for a family evening?",
                                           "similarity-minilm", False, 8), 0.3),
    "/model_graph_add_node": Example(lambda: ("poems", SMOL, "short poems", "", "Write a short poem. {query}", ""),
                                     0.5),
    "/model_graph_reset": Example(lambda: (), 1),
}

# Endpoints the load run leaves out, and why (everything else the API lists and EXAMPLES lacks is reported).
SKIP: dict[str, str] = {
    "/models_unload": "unloads a model every other user shares (reloading it would dominate the run)",
    "/detect_evaluate": "the whole built-in benchmark (tens of seconds); Resume reuses the texts a finished run scored",
    "/cot_evaluate": "an evaluation over problems (several seconds each); covered by tests/app/test_cot_api.py",
    "/gptscore_meta": "the meta-evaluation over sources (tens of passes each); tests/app/test_gptscore_api.py",
    "/selective_run": "answers, samples and self-evaluates questions (seconds each); tests/app/test_selective_api.py",
    "/selective_tune": "trains a soft prompt after a run (minutes); covered by tests/app/test_selective_api.py",
    "/ewok_evaluate": "an evaluation over items and models; covered by tests/app/test_ewok_api.py",
    "/bitnet_twins": "trains tiny models from scratch (minutes); covered by tests/app/test_bitnet_api.py",
    "/bitnet_ptq": "ternarises a copy of a model and scores held-out text; tests/app/test_bitnet_api.py",
    "/dus_experiment": "trains a base and its up-scaled copies (minutes); covered by tests/app/test_dus_api.py",
    "/dus_step0": "copies a model into a deeper one and scores held-out text; tests/app/test_dus_api.py",
    "/upcycling_compare": "trains dense and MoE models (minutes); covered by tests/app/test_upcycling_api.py",
    "/upcycling_step0": "upcycles a copy of a model and scores held-out text; tests/app/test_upcycling_api.py",
    "/copying_train": "trains tiny models (30 s to minutes); covered by tests/app/test_copying_api.py",
    "/copying_pretrained": "runs packaged LMs on long prompts (minutes); tests/app/test_copying_api.py",
    "/byte_models_train": "trains a bGPT from scratch (minutes); covered by tests/app/test_byte_models_api.py",
    "/byte_models_cpu": "trains one bGPT per data size (minutes); tests/app/test_byte_models_api.py",
    "/byte_models_upload": "trains the quick model first when none was (about 20 s); tests/app/test_byte_models_api.py",
    "/lte_run": "trains three ways from scratch (toy under a minute, LM minutes); covered by tests/app/test_lte_api.py",
    "/self_discover_discover": "three LM calls of up to hundreds of tokens (minutes on cpu); "
                               "tests/app/test_self_discover_api.py",
    "/self_discover_solve": "fills a structure in one LM call (many tokens); tests/app/test_self_discover_api.py",
    "/self_discover_evaluate": "four methods per instance (minutes each on cpu); tests/app/test_self_discover_api.py",
    "/model_graph_routing": "routes every held-out query with each router (LM routers: minutes); "
                            "tests/app/test_model_graph_api.py",
    "/model_graph_end_to_end": "answers each item three ways (minutes on cpu); tests/app/test_model_graph_api.py",
}
