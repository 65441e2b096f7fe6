"""The Ray tier: tests that start local Ray (a few seconds, once for the folder), on the tiny profile.

In `make test` this folder is one unit of work (tests/conftest.py: work_unit), so one pytest-xdist worker runs all
of it, while the other worker runs other tests.
"""
import pytest


@pytest.fixture(scope="package")
def local_ray():
    """Local Ray, started once for this folder and shut down after its last test (so the worker that ran it goes on
    without Ray's processes); fails (not skips) without Ray."""
    from backends import sweeps

    ray, why, _ = sweeps._ray(None)  # started here, so the sweeps leave it running for the next test
    assert ray is not None, why
    yield ray
    sweeps.shutdown_ray()
