"""The default cpu profile's models (Qwen2.5-Coder 0.5B and 1.5B in int8), whatever the test profile."""
import pytest

from tests.conftest import registry_for


@pytest.fixture(scope="session")
def registry():
    return registry_for("cpu")
