"""Each paper tab's first example as one request through the running app (gradio_client), in tab order.

Shared by bench/bench_memory.py (the process's memory after each) and scripts/space_check.py (each must return
without an error on the profile a Space gets). A request names the parameters its example fills; the others take
the tab's defaults on the app's profile (so the models are the profile's). Where a tab's first example is a
minutes-long training run, its quick example stands in, as labelled.
"""
from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FirstExample:
    tab: str
    endpoint: str
    kwargs: dict
    label: str


def examples() -> list[FirstExample]:
    """The requests, in the order of the tabs (the tab modules' own example data, as the UI shows them in this
    process's mode: a caller checking a public app sets public mode first)."""
    from tabs import bandits, bitnet, byte_models, copying, detector, dus, ewok, framing, lte, model_graph, upcycling
    from tabs.gptscore import examples as gptscore_examples

    def named(values: list, names: list[str]) -> dict:
        return dict(zip(names, values))

    g_rows, g_labels = gptscore_examples()
    g_row = named(g_rows[0], ["source", "references", "cand1", "cand2", "cand3", "cand4", "variant", "aspect"])
    return [
        FirstExample("Detector", "/detect", {"text": detector.EXAMPLES[0]["text"]}, detector.EXAMPLES[0]["name"]),
        FirstExample("CoT path explorer", "/cot_explore", {}, "the default question"),
        FirstExample("Early-exit token viewer", "/early_exit_lens", {}, "the default text"),
        FirstExample("Bandit playground", "/bandit_run", named(bandits.EXAMPLES[0], [
            "kind", "horizon", "replicates", "baselines", "codes", "llm_replicates", "reasoning_tokens", "seed"]),
            bandits.EXAMPLE_LABELS[0]),
        FirstExample("Cosine-similarity sandbox", "/cosine_experiment", {}, "the paper's setting"),
        FirstExample("RAG QA", "/rag_answer", {}, "the default question"),
        FirstExample("Framing analysis", "/framing_text", {"text": framing.EXAMPLES[0][0]}, "exclusion era"),
        FirstExample("GPTScore", "/gptscore_score", g_row, g_labels[0]),
        FirstExample("Selective prediction", "/selective_run", {"dataset": "cot", "n_questions": 8, "n_samples": 5},
                     "CoT, 8 questions"),
        FirstExample("World knowledge", "/ewok_pair", named(ewok.EXAMPLES[0], [
            "context1", "context2", "target1", "target2"]), "the piano"),
        FirstExample("1.58-bit weights", "/bitnet_twins", named(bitnet.TWINS_EXAMPLES[0], ["widths", "steps", "seed"]),
                     bitnet.TWINS_LABELS[0]),
        FirstExample("Depth up-scaling", "/dus_experiment", named(dus.EXAMPLES[1], [
            "layers", "m", "base_steps", "steps", "seed"]), dus.EXAMPLE_LABELS[1]),
        FirstExample("Sparse upcycling", "/upcycling_compare", named(upcycling.EXAMPLES[1], [
            "n_experts", "top_k", "router", "capacity", "layers", "size", "budget_steps", "extra_steps", "seed"]),
            upcycling.EXAMPLE_LABELS[1]),
        FirstExample("Copying", "/copying_train", named(copying.EXAMPLES[0], [
            "archs", "position", "alphabet", "train_len", "test_lens", "steps", "seed", "scales", "bits"]),
            copying.EXAMPLE_LABELS[0]),
        FirstExample("Byte models", "/byte_models_train", named(byte_models.TRAIN_EXAMPLES[1], [
            "size", "steps", "mixture", "seed"]), byte_models.TRAIN_LABELS[1]),
        FirstExample("Parallel low-rank training", "/lte_run", named(lte.examples()[0], [
            "network", "heads", "rank", "alpha", "merge_every", "other_ts", "steps", "batch", "others", "seed",
            "backend", "workers"]), lte.EXAMPLE_LABELS[0]),
        FirstExample("Self-Discover", "/self_discover_evaluate", {
            "task": "boolean_expressions", "model": "smollm2-135m-instruct", "n": 1, "n_examples": 1,
            "sc_k": "matched", "seed": 0, "tokens": 12, "cap_s": 300}, "Quick: 1 boolean expression"),
        FirstExample("Model graph", "/model_graph_route", named(model_graph.EXAMPLES[0], [
            "query", "router", "compare", "max_tokens"]), model_graph.EXAMPLE_LABELS[0]),
    ]


_parameters: dict[int, dict] = {}


def arguments(client: Any, example: FirstExample) -> list:
    """The endpoint's arguments in order: the example's values, else each parameter's default (None where it has
    none, as an empty box sends)."""
    if id(client) not in _parameters:
        _parameters[id(client)] = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    params = _parameters[id(client)][example.endpoint]["parameters"]
    unknown = set(example.kwargs) - {p["parameter_name"] for p in params}
    if unknown:
        raise KeyError(f"{example.endpoint} has no parameter {sorted(unknown)}")
    return [example.kwargs.get(p["parameter_name"], p.get("parameter_default")) for p in params]


def run(client: Any, example: FirstExample, timeout_s: float = 900) -> tuple[bool, str, float]:
    """(succeeded, an error message or "", seconds) for one example; a streaming endpoint runs to its end."""
    t0 = time.perf_counter()
    try:
        job = client.submit(*arguments(client, example), api_name=example.endpoint)
        job.result(timeout=timeout_s)
        while not job.done():  # a streaming endpoint: to its last update
            if time.perf_counter() - t0 > timeout_s:
                raise TimeoutError(f"no end within {timeout_s:.0f} s")
            time.sleep(0.2)
        return True, "", time.perf_counter() - t0
    except Exception as e:  # noqa: BLE001 - the caller reports it
        return False, f"{type(e).__name__}: {str(e)[:300]}", time.perf_counter() - t0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect(port: int, app: subprocess.Popen, timeout_s: float) -> Any:
    """A gradio_client Client on the app started as ``app`` on ``port``, once it serves; SystemExit if it exits
    or does not serve within ``timeout_s``."""
    from gradio_client import Client

    t0 = time.perf_counter()
    while True:
        try:
            return Client(f"http://127.0.0.1:{port}/", verbose=False)
        except Exception:  # noqa: BLE001 - not serving yet
            if app.poll() is not None or time.perf_counter() - t0 > timeout_s:
                raise SystemExit("the app did not start") from None
            time.sleep(1)
