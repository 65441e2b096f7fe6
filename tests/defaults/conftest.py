"""The default cpu profile's models (Qwen2.5-Coder 0.5B and 1.5B in int8), whatever the test profile.

In this folder ``registry`` is the cpu profile's, and it is the process-wide registry from the first test here to
the last (tests/conftest.py runs the folder as one unit of work, on one worker); the test profile's registry is put
back afterwards."""
import pytest

from tests.conftest import registry_for


@pytest.fixture(scope="package")
def registry():
    from backends import models

    with models.use_registry(registry_for("cpu")) as reg:
        yield reg
