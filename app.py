"""LLM research workbench: one Gradio app, one tab per paper.

    python app.py                      # http://127.0.0.1:7860, packaged Qwen2.5-Coder in int8 (GPU profile with CUDA)
    python app.py --profile tiny       # the very small packaged models: quick to load, mechanics only
    python app.py --profile gpu --model chat=Qwen/Qwen2.5-1.5B-Instruct
    python app.py --public --host 0.0.0.0   # a shared demo: registry models only, stricter caps

Nothing heavy happens at import or before the app serves. Once it serves, the profile's models load in the
background, in the order the tabs need them (backends/warmup.py; --no-warm turns this off); a model is otherwise
loaded at first use (backends/models.py).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

# Offline-friendly before Gradio is imported: no usage analytics, no hub telemetry.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

try:  # ZeroGPU Spaces need `spaces` imported before anything touches CUDA; elsewhere it is absent.
    import spaces  # type: ignore[import-not-found]  # noqa: F401
except ImportError:
    pass

import gradio as gr  # noqa: E402

from backends import config, memory, models, warmup  # noqa: E402
from tabs import TAB_MODULES  # noqa: E402

ROOT = Path(__file__).resolve().parent
CSS_PATH = ROOT / "assets" / "style.css"
QUEUE_MAX_SIZE = 64  # requests waiting at once; past that a user is told the queue is full
TITLE = "LLM research workbench"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    on_space = bool(os.environ.get("SPACE_ID"))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                   help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    p.add_argument("--profile", choices=sorted(models.PROFILES), default=None,
                   help="model profile (default: gpu where CUDA is available, else cpu)")
    p.add_argument("--model", action="append", metavar="SLOT=NAME", default=[],
                   help=f"use NAME (registry name, hub id or folder) for a slot: {', '.join(models.SLOTS)}")
    p.add_argument("--add-model", action="append", metavar="NAME=PATH_OR_HUB_ID", default=[],
                   help="register an extra causal LM by local folder or hub id")
    p.add_argument("--weights", choices=["auto", *models.CPU_WEIGHTS], default=None,
                   help="precision of every causal LM on a CPU (default auto: int8 for the cpu profile's Qwen "
                        "models, float32 for the others)")
    p.add_argument("--cache-dir", default=None, help="converted-weights cache (default ~/.cache/llm-workbench)")
    p.add_argument("--ray-address", default=None, metavar="ADDRESS",
                   help="run sweeps chosen with the Ray backend on this Ray cluster (e.g. ray://head:10001; default "
                        "$WORKBENCH_RAY_ADDRESS, else local Ray workers)")
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    p.add_argument("--public", action="store_true", default=on_space,
                   help="shared-demo mode: registry models only, stricter input caps (default on a Space)")
    p.add_argument("--no-warm", dest="warm", action="store_false",
                   default=os.environ.get("WORKBENCH_WARM", "1").strip().lower() not in ("0", "false", "no", "off"),
                   help="do not load the profile's models in the background once the app serves (default: load "
                        "them, in the order the tabs need them; also WORKBENCH_WARM=0)")
    return p.parse_args(argv)


def readiness() -> tuple[str, gr.Timer]:
    """The line under the title while the warm-up runs (backends/warmup.py), and whether to ask again."""
    w = warmup.current()
    if w is None:
        return "", gr.Timer(active=False)
    return w.line(), gr.Timer(active=not w.done)


def build_app(warm: bool = False) -> gr.Blocks:
    """The whole app: one tab per module in tabs.TAB_MODULES, in order. ``warm``: the models are being prepared
    in the background, and a line under the title follows them."""
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(
            f"# {TITLE}\n"
            "Run what a language-model paper claims on real local models and look inside. "
            "Each tab is one paper; the **Models** tab shows what is loaded."
        )
        ready = gr.Markdown(elem_id="models-ready")
        timer = gr.Timer(2.0, active=warm)
        timer.tick(readiness, None, [ready, timer], api_name="models_ready", show_progress="hidden")
        with gr.Tabs():
            for name in TAB_MODULES:
                module = importlib.import_module(f"tabs.{name}")
                with gr.Tab(module.TITLE, id=name):
                    module.build()
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=2)
    return demo


def launch_kwargs(args: argparse.Namespace) -> dict:
    return {
        "server_name": args.host,
        "server_port": args.port,
        "share": args.share,
        "theme": gr.themes.Default(),  # fonts are bundled with Gradio: nothing fetched from the network
        "css_paths": [CSS_PATH],
        "show_error": True,  # messages of gr.Error reach the user; tabs never put internals in them
        "enable_monitoring": False,
        "max_file_size": config.limits().max_upload_bytes,
    }


def limit_malloc_arenas(n: int = 2) -> bool:
    """Cap glibc's malloc arenas (as ``MALLOC_ARENA_MAX=n`` would), unless the environment sets it.

    glibc gives each thread its own arena; with Gradio's pool of worker threads the server's memory
    grew steadily by fragmentation under load (bench/bench_load.py, 16 clients: +13 % over 400
    requests and still climbing), and stayed flat with two arenas. Returns whether the cap was set.
    """
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").mallopt(-8, n))  # -8: M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to cap
        return False


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    limit_malloc_arenas()
    args = parse_args(argv)
    config.set_public_mode(args.public)
    if args.ray_address:
        os.environ["WORKBENCH_RAY_ADDRESS"] = args.ray_address  # read by backends/sweeps.py and forwarded to workers
    try:
        memory.budget_bytes()
    except ValueError as e:
        raise models.ModelError(str(e)) from None
    reg = models.configure(args.profile, cache_dir=args.cache_dir, public=args.public,
                           overrides=models.parse_overrides(args.model),
                           extra_models=models.parse_overrides(args.add_model), weights=args.weights)
    demo = build_app(warm=args.warm)
    demo.launch(prevent_thread_lock=True, **launch_kwargs(args))
    if args.warm:  # once it serves: the page opens while the models load
        warmup.start(reg)
    demo.block_thread()


if __name__ == "__main__":
    try:
        main()
    except models.ModelError as e:  # a bad flag: say why and exit without a traceback
        sys.exit(f"error: {e}")
