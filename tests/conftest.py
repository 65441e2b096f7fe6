"""Shared fixtures. Tests run offline: nothing may come from a model hub."""
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import socket  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ARTIFACTS = Path(__file__).parent / "artifacts"


# The fast tier runs on the tiny profile; `make test` runs tests/defaults and tests/browser again
# with WORKBENCH_TEST_PROFILE=cpu, the default profile a user gets.
TEST_PROFILE = os.environ.get("WORKBENCH_TEST_PROFILE", "tiny")


_configured: dict = {}


def registry_for(profile: str):
    """The process-wide registry on a profile, configured once per session (not reset by a second ask)."""
    from backends import models

    if _configured.get(profile) is None or models.registry() is not _configured[profile]:
        _configured[profile] = models.configure(profile)
    return _configured[profile]


@pytest.fixture(scope="session")
def registry():
    """The process-wide registry on the test profile (packaged models), shared by every test."""
    return registry_for(TEST_PROFILE)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url(registry):
    """The real app, launched in-process on a free loopback port."""
    import app

    demo = app.build_app()
    args = app.parse_args(["--port", str(_free_port())])
    kwargs = app.launch_kwargs(args)
    demo.launch(prevent_thread_lock=True, quiet=True, **kwargs)
    yield f"http://127.0.0.1:{kwargs['server_port']}/"
    demo.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: one torch thread for the module (two threads on a busy two-core machine made each op up to
    300x slower), restored afterwards. A module opts in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    from backends.training import torch_threads

    with torch_threads(1):
        yield
