"""Shared fixtures. Tests run offline: nothing may come from a model hub.

`make test` runs this suite as one pytest session on two pytest-xdist workers (``-n 2``): each test module is one
unit of work (its module fixtures are built once, on one worker), except the default-profile checks in
tests/defaults, which form one unit (the Qwen models are loaded by one worker only), and the Ray tier in tests/ray
(Ray starts once, on one worker); see ``work_unit``.
Each worker runs torch on its share of the cores (one thread each on two cores), unless OMP_NUM_THREADS
says otherwise; two workers with two threads each would spin against each other.
"""
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
if WORKERS > 1 and "OMP_NUM_THREADS" not in os.environ:  # read by torch when it is first imported
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // WORKERS))

import contextlib  # noqa: E402
import socket  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ARTIFACTS = Path(__file__).parent / "artifacts"


# The fast tier runs on the tiny profile; `make test` runs tests/defaults and tests/browser again
# with WORKBENCH_TEST_PROFILE=cpu, the default profile a user gets.
TEST_PROFILE = os.environ.get("WORKBENCH_TEST_PROFILE", "tiny")


_registries: dict = {}


def registry_for(profile: str):
    """One registry per profile for the whole session (its models stay loaded while another profile's tests run);
    a fixture makes it the process-wide registry with ``models.use_registry``."""
    from backends import models

    if profile not in _registries:
        _registries[profile] = models.ModelRegistry(profile)
    return _registries[profile]


@pytest.fixture(scope="session")
def registry():
    """The process-wide registry on the test profile (packaged models), shared by every test."""
    from backends import models

    with models.use_registry(registry_for(TEST_PROFILE)) as reg:
        yield reg


@pytest.fixture(autouse=True)
def _profile_registry(request):
    """Outside the unit tests, the process-wide registry is the folder's profile for every test (the test profile,
    or the cpu profile in tests/defaults), whichever test a worker happens to run first."""
    if "unit" not in Path(str(request.path)).relative_to(Path(__file__).parent).parts[:1]:
        from backends import models

        reg = request.getfixturevalue("registry")
        assert models.registry() is reg, f"the process-wide registry is not this folder's ({reg.profile})"


def work_unit(nodeid: str) -> str:
    """The unit of work a test belongs to (one worker runs a unit's tests in order): its module, except that
    tests/defaults is one unit (its Qwen models load on one worker only), tests/ray is one unit (Ray starts once,
    on one worker) and each shard of the endpoint property test is a unit of its own (the shards spread over the
    workers)."""
    path, _, name = nodeid.partition("::")
    for folder in ("tests/defaults", "tests/ray"):
        if path.startswith(folder + "/"):
            return folder
    if path.endswith("test_props_endpoints.py") and "[" in name:
        return nodeid
    return path


FIRST = ("tests/defaults", "tests/ray", "tests/app/test_props_endpoints.py", "tests/integration/test_props_backends.py")


def pytest_collection_modifyitems(config, items):
    """The longest units first, so that none starts last and leaves the other worker idle; then collection order."""
    def rank(item) -> int:
        unit = work_unit(item.nodeid)
        return next((i for i, u in enumerate(FIRST) if unit.startswith(u)), len(FIRST))

    items.sort(key=rank)


def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's load-by-scope scheduling with :func:`work_unit` as the scope (its loadgroup marks are not
    applied under pytest 9: the test ids it rewrites keep their old form)."""
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return UnitScheduling(config, log)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def launched_app():
    """The real app, built on the process-wide registry's profile and launched in-process on a free loopback
    port; yields its URL."""
    import app

    demo = app.build_app()
    args = app.parse_args(["--port", str(_free_port())])
    kwargs = app.launch_kwargs(args)
    demo.launch(prevent_thread_lock=True, quiet=True, **kwargs)
    try:
        yield f"http://127.0.0.1:{kwargs['server_port']}/"
    finally:
        demo.close()


@pytest.fixture(scope="session")
def app_url(registry):
    """The real app on the test profile, shared by the app and browser tests of a worker."""
    with launched_app() as url:
        yield url


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


# ---- A timeline of the run: when each test started and ended on which worker, and how busy the machine's cores
# were meanwhile (scripts/test_durations.py reads it: idle cores and the workers' finishing times). ----
def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat; (0, 0) where there is none."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _tree_cpu_seconds() -> float:
    """CPU seconds used so far by this process, its finished children, and every live descendant (the in-process
    app, Chromium, Ray's processes and workers), so that a test's share of the machine's work can be told apart from
    the other worker's. A descendant that ends without this process waiting for it takes its seconds along."""
    import psutil

    me = psutil.Process()
    t = me.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for child in me.children(recursive=True):
        try:
            c = child.cpu_times()
            total += c.user + c.system
        except psutil.Error:  # ended meanwhile
            pass
    return total


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Runs where the test runs (an xdist worker, or the only process), not in xdist's controller."""
    import time

    start, (busy0, total0), cpu0 = time.time(), _cpu_jiffies(), _tree_cpu_seconds()
    yield
    busy, total = _cpu_jiffies()
    used = (busy - busy0) / max(1, total - total0) * (os.cpu_count() or 1)  # cores busy on average meanwhile
    cpu = max(0.0, _tree_cpu_seconds() - cpu0)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / f"timeline-{worker}.tsv", "a") as f:
        f.write(f"{start:.2f}\t{time.time():.2f}\t{used:.2f}\t{worker}\t{item.nodeid}\t{cpu:.2f}\n")
