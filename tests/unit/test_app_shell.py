"""The app shell without models: flags, tab order, error handling of callbacks."""
import gradio as gr
import pytest

import app
from backends.config import InputError
from backends.models import ModelError
from tabs import MORE_PAPERS, PAPER_TABS, TAB_MODULES
from tabs.common import guarded


def test_defaults_bind_to_localhost(monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    args = app.parse_args([])
    assert args.host == "127.0.0.1" and args.port == 7860 and not args.public and not args.share
    kw = app.launch_kwargs(args)
    assert kw["server_name"] == "127.0.0.1" and kw["enable_monitoring"] is False


def test_flags_parse(monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    args = app.parse_args(["--public", "--profile", "cpu", "--model", "chat=gemma3-270m", "--port", "9000"])
    assert args.public and args.profile == "cpu" and args.model == ["chat=gemma3-270m"] and args.port == 9000


def test_the_warm_start_is_on_unless_a_flag_or_the_environment_turns_it_off(monkeypatch):
    monkeypatch.delenv("WORKBENCH_WARM", raising=False)
    assert app.parse_args([]).warm and not app.parse_args(["--no-warm"]).warm
    for off in ("0", "false", "off"):
        monkeypatch.setenv("WORKBENCH_WARM", off)
        assert not app.parse_args([]).warm
    monkeypatch.setenv("WORKBENCH_WARM", "1")
    assert app.parse_args([]).warm


def test_a_bad_memory_budget_stops_the_start_with_its_message(monkeypatch):
    monkeypatch.setenv("WORKBENCH_MEMORY_GB", "plenty")
    with pytest.raises(ModelError, match="WORKBENCH_MEMORY_GB"):
        app.main(["--no-warm"])


def test_public_mode_is_the_default_on_a_space(monkeypatch):
    monkeypatch.setenv("SPACE_ID", "someone/workbench")
    assert app.parse_args([]).public


def test_tab_order_matches_the_product():
    titles = [__import__(f"tabs.{m}", fromlist=["TITLE"]).TITLE for m in TAB_MODULES]
    assert titles == ["Detector", "CoT path explorer", "Early-exit token viewer", "Bandit playground",
                      "Cosine-similarity sandbox", "RAG QA", "Framing analysis", "More papers", "Models"]
    grouped = [__import__(f"tabs.{m}", fromlist=["TITLE"]).TITLE for m in MORE_PAPERS]
    assert grouped == ["GPTScore", "Selective prediction", "World knowledge", "1.58-bit weights", "Depth up-scaling",
                       "Sparse upcycling", "Copying", "Byte models", "Parallel low-rank training", "Self-Discover",
                       "Model graph"]


def test_starting_the_app_imports_no_torch():
    """Nothing heavy at import: torch and transformers load when a tab first needs a model."""
    import subprocess
    import sys

    code = "import sys, app; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_the_overview_names_every_paper_with_a_summary():
    from tabs.more_papers import overview_markdown

    md = overview_markdown()
    for m in (*PAPER_TABS, *MORE_PAPERS):
        tab = __import__(f"tabs.{m}", fromlist=["TITLE", "SUMMARY"])
        assert len(tab.SUMMARY) > 30 and f"**{tab.TITLE}**" in md and tab.SUMMARY in md


@pytest.mark.parametrize("exc", [InputError("Text is empty: type something."), ModelError("Model x failed")])
def test_guarded_shows_user_errors_as_they_are(exc):
    @guarded
    def fn():
        raise exc

    with pytest.raises(gr.Error) as e:
        fn()
    assert e.value.message == str(exc)


def test_guarded_hides_internals_of_unexpected_errors():
    @guarded
    def fn():
        raise RuntimeError("secret /home/user/path detail")

    with pytest.raises(gr.Error) as e:
        fn()
    assert "secret" not in e.value.message and "/home" not in e.value.message
    assert "reference" in e.value.message


def test_guarded_keeps_the_signature_gradio_inspects():
    import inspect

    @guarded
    def fn(text: str, progress=gr.Progress()):
        return text

    assert list(inspect.signature(fn).parameters) == ["text", "progress"]
    assert fn("ok") == "ok"


def test_guarded_turns_errors_raised_while_streaming_into_messages():
    @guarded
    def stream():
        yield 1
        raise InputError("k must be between 1 and 20.")

    gen = stream()
    assert next(gen) == 1
    with pytest.raises(gr.Error) as e:
        next(gen)
    assert e.value.message == "k must be between 1 and 20."


def test_streamed_snapshots_are_paced_and_the_last_always_arrives():
    """The first snapshot at once, then the newest at most every STREAM_INTERVAL_S, the last whatever the time; one
    that took longer than the interval to compute is never held back."""
    from tabs.common import STREAM_INTERVAL_S, paced

    def run(times):
        clock = [0.0]

        def snapshots():
            for t in times:  # each snapshot is ready at time t
                clock[0] = t
                yield t

        return list(paced(snapshots(), 0.5, clock=lambda: clock[0]))

    assert run([0.0, 0.1, 0.2, 0.6, 0.7, 0.8]) == [0.0, 0.6, 0.8]  # 0.1, 0.2, 0.7 dropped for newer ones
    assert run([0.0, 2.0, 4.0]) == [0.0, 2.0, 4.0]  # slow snapshots all arrive
    assert run([0.0, 0.1]) == [0.0, 0.1] and run([]) == []  # the last one arrives

    @guarded
    def burst():
        yield from range(5)

    assert STREAM_INTERVAL_S >= 0.1 and list(burst()) == [0, 4]  # a callback's stream is paced

    closed = []

    @guarded
    def run():
        try:
            yield from range(100)
        finally:
            closed.append(True)

    gen = run()
    assert next(gen) == 0
    gen.close()  # Stop: the callback's generator is closed at once
    assert closed == [True]


def test_a_model_loaded_inside_a_callback_reports_to_its_progress_bar(tmp_path):
    import gradio as gr

    from backends import models
    from tabs.common import guarded

    seen = []

    class Bar(gr.Progress):
        def __call__(self, fraction, desc=None, **kw):
            seen.append((fraction, desc))

    reg = models.ModelRegistry("tiny", cache_dir=tmp_path, device="cpu")
    reg.register(models.ModelSpec("slow", models.EMBEDDER, models.LOCAL, str(tmp_path)))
    reg._load = lambda spec, progress: (progress(0.5, "Converting slow"), object())[1]

    @guarded
    def callback(text, progress=gr.Progress()):
        return reg.get("slow")  # deep inside a method: no progress argument passed down

    callback("x", Bar())  # gradio passes the tracker positionally
    assert seen == [(0.5, "Converting slow")]
    assert models.load_progress.get() is None  # reset after the call


def test_the_lte_examples_fit_the_public_cap_on_steps():
    from backends import config
    from tabs import lte

    try:
        config.set_public_mode(True)
        assert all(e[6] <= lte._caps()["steps"] for e in lte.examples())
        assert lte.examples()[0][6] == 400 and lte.EXAMPLES[0][6] == 600  # the label's run, cut to the cap
    finally:
        config.set_public_mode(False)
    assert lte.examples() == lte.EXAMPLES
