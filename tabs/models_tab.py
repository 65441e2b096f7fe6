"""Models tab: the active profile, which model fills each slot, what is loaded, load and unload."""
from __future__ import annotations

import gradio as gr

from backends.models import registry
from tabs.common import HEAVY, guarded

TITLE = "Models"

LOADED_COLUMNS = ["name", "role", "device", "dtype", "params_m", "memory_mb", "load_s", "loaded_from", "quantized"]


def profile_markdown() -> str:
    reg = registry()
    rows = "\n".join(f"| `{slot}` | `{name}` | {reg.spec(name).description} |" for slot, name in reg.slots.items())
    mode = "public (registry models only, stricter input caps)" if reg.public else "local"
    return (
        f"**Profile:** `{reg.profile}` on `{reg.device}` · **mode:** {mode} · "
        f"**weights cache:** `{reg.cache_dir}`\n\n"
        "| slot | model | what it is |\n|---|---|---|\n" + rows
    )


def loaded_table() -> list[list]:
    """Rows of the loaded-models table (also the ``models_list`` API endpoint)."""
    return [[m[c] for c in LOADED_COLUMNS] for m in registry().loaded()]


@guarded
def load_model(name: str, progress: gr.Progress = gr.Progress()) -> tuple[list[list], str]:
    """Load a registry model by name (once; later calls return at once) and list what is loaded."""
    reg = registry()
    name = reg.resolve(name)  # unknown names raise an error listing the valid ones
    was = reg.is_loaded(name)
    m = reg.get(name, progress=lambda f, msg: progress(f, desc=msg))
    note = "was already loaded" if was else f"loaded in {m.load_seconds:.2f} s ({m.loaded_from})"
    if not was and m.loaded_from == "rebuilt":
        note += ": its cached weights were incomplete or corrupt, so they were converted again"
    return loaded_table(), f"`{name}` {note} on {m.device}."


@guarded
def unload_model(name: str) -> tuple[list[list], str]:
    """Unload a model by name, freeing its memory."""
    reg = registry()
    name = reg.resolve(name)
    return loaded_table(), (f"`{name}` unloaded." if reg.unload(name) else f"`{name}` was not loaded.")


def build() -> None:
    reg = registry()
    gr.Markdown(
        "Every tab loads its models from one shared registry: a model is loaded at first use, once, "
        "and shared by every tab that names it. Packaged GGUF models are converted to float32 once and "
        "cached, so later starts load them in about a second."
    )
    gr.Markdown(profile_markdown())
    with gr.Row():
        choice = gr.Dropdown(reg.names(), value=reg.slots["chat"], label="Model", scale=3)
        load = gr.Button("Load", variant="primary", scale=1)
        unload = gr.Button("Unload", scale=1)
        refresh = gr.Button("Refresh", scale=1)
    status = gr.Markdown()
    table = gr.Dataframe(headers=LOADED_COLUMNS, value=loaded_table, label="Loaded models",
                         interactive=False, wrap=True)
    load.click(load_model, [choice], [table, status], api_name="models_load", **HEAVY)
    unload.click(unload_model, [choice], [table, status], api_name="models_unload", **HEAVY)
    refresh.click(loaded_table, None, [table], api_name="models_list")
