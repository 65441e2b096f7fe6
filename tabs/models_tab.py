"""Models tab: the active profile, which model fills each slot, what is loaded, load and unload."""
from __future__ import annotations

import gradio as gr

from backends import memory, warmup
from backends.config import InputError
from backends.models import registry
from tabs.common import HEAVY, Outputs, guarded

TITLE = "Models"
SUMMARY = ("The model profile, which model fills each slot, what is loaded.")

LOADED_COLUMNS = ["name", "role", "device", "weights", "params_m", "memory_mb", "load_s", "loaded_from"]
PRECISIONS = ["default", "int8", "float32", "bfloat16"]
RESULT = Outputs("table", "status")  # what load_model and unload_model return


def profile_markdown() -> str:
    reg = registry()
    def runs_in(name: str) -> str:
        spec = reg.spec(name)
        if not spec.is_lm:
            return "float32"
        try:
            return reg.weights_for(spec)
        except Exception as e:  # a pinned precision this device cannot run: say so in the table
            return f"— ({e})"

    rows = "\n".join(f"| `{slot}` | `{name}` | {runs_in(name)} | {reg.spec(name).description} |"
                     for slot, name in reg.slots.items())
    mode = "public (registry models only, stricter input caps)" if reg.public else "local"
    return (
        f"**Profile:** `{reg.profile}` on `{reg.device}` · **mode:** {mode} · "
        f"**weights cache:** `{reg.cache_dir}`\n\n"
        "| slot | model | runs in | what it is |\n|---|---|---|---|\n" + rows
    )


def loaded_table() -> list[list]:
    """Rows of the loaded-models table (also the ``models_list`` API endpoint)."""
    return [[m[c] for c in LOADED_COLUMNS] for m in registry().loaded()]


def memory_markdown() -> str:
    """The loaded models' memory against the budget, the process's memory, and the warm-up's state per model."""
    held, budget = registry().memory_use()
    line = (f"**Memory:** the loaded models hold {memory.gb(held)} of the {memory.gb(budget)} budget "
            f"(`WORKBENCH_MEMORY_GB`; past it the least recently used models that no request holds are unloaded); "
            f"the app process holds {memory.gb(memory.rss_bytes())}, "
            f"at most {memory.gb(memory.peak_rss_bytes())} so far.")
    w = warmup.current()
    if w is not None:
        line += "\n\n**Warm start:** " + w.line() + "\n\n" + "\n".join(
            f"- `{name}`: {state}" for name, state in w.state.items())
    return line


def _with_precision(name: str, precision: str | None) -> str:
    """``name`` or ``name@precision`` (a second copy in that precision; embedders have one)."""
    reg = registry()
    name = reg.resolve(name)  # unknown names raise an error listing the valid ones
    if not precision or precision == "default" or not reg.spec(name).is_lm:
        return name
    if precision not in PRECISIONS:
        raise InputError(f"Precision must be one of {', '.join(PRECISIONS)}, got {precision!r}.")
    return reg.resolve(f"{reg.spec(name).base or name}@{precision}")


@guarded
def load_model(name: str, precision: str = "default", progress: gr.Progress = gr.Progress()) -> tuple[list[list], str]:
    """Load a registry model by name, optionally in another precision (once; later calls return at once)."""
    reg = registry()
    name = _with_precision(name, precision)
    was = reg.is_loaded(name)
    m = reg.get(name, progress=lambda f, msg: progress(f, desc=msg))
    note = "was already loaded" if was else f"loaded in {m.load_seconds:.2f} s ({m.loaded_from})"
    if not was and m.loaded_from == "rebuilt":
        note += ": its cached weights were incomplete or corrupt, so they were converted again"
    return RESULT.pack(table=loaded_table(), status=f"`{name}` {note} on {m.device}.")


@guarded
def unload_model(name: str, precision: str = "default") -> tuple[list[list], str]:
    """Unload a model by name (and precision), freeing its memory."""
    reg = registry()
    name = _with_precision(name, precision)
    status = f"`{name}` unloaded." if reg.unload(name) else f"`{name}` was not loaded."
    return RESULT.pack(table=loaded_table(), status=status)


def build() -> None:
    reg = registry()
    gr.Markdown(
        "Every tab loads its models from one shared registry: a model is loaded once and shared by every tab "
        "that names it. Once the app serves, the profile's models load in the background (the line under the "
        "title follows them; a tab that needs one still loading waits for it). Packaged GGUF models are "
        "converted to float32 once and cached (the first start of the `cpu` profile joins and converts "
        "Qwen2.5-Coder: about 35 s for the 0.5B model and 50 s for the 1.5B on two cores). On a CPU the Qwen "
        "models then run in **int8** (PyTorch's dynamic quantisation, done at each load: about 20 and 45 s on "
        "a busy machine); choose another precision below to compare (a second copy is loaded). Refresh updates "
        "the table and the memory figures below it."
    )
    gr.Markdown(profile_markdown())
    with gr.Row():
        choice = gr.Dropdown(reg.names(), value=reg.slots["chat"], label="Model", scale=3)
        precision = gr.Dropdown(PRECISIONS, value="default", label="Precision", scale=1,
                                info="default: what the profile runs (int8 for the Qwen models on a CPU)")
        load = gr.Button("Load", variant="primary", scale=1)
        unload = gr.Button("Unload", scale=1)
        refresh = gr.Button("Refresh", scale=1)
    status = gr.Markdown()
    table = gr.Dataframe(headers=LOADED_COLUMNS, value=loaded_table, label="Loaded models",
                         interactive=False, wrap=True)
    usage = gr.Markdown(memory_markdown)
    outputs = RESULT.wire(table=table, status=status)
    load.click(load_model, [choice, precision], outputs, api_name="models_load", **HEAVY).then(
        memory_markdown, None, [usage], api_name=False)
    unload.click(unload_model, [choice, precision], outputs, api_name="models_unload", **HEAVY).then(
        memory_markdown, None, [usage], api_name=False)
    refresh.click(loaded_table, None, [table], api_name="models_list").then(
        memory_markdown, None, [usage], api_name="models_memory")
