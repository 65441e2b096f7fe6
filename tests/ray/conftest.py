"""The Ray tier: tests that start local Ray (a few seconds, once per session), kept out of the fast tier.

`make test` runs this folder as its own step, on the tiny profile.
"""
import pytest


@pytest.fixture(scope="session")
def local_ray():
    """Local Ray, started once for the session and shut down at its end; fails (not skips) without Ray."""
    from backends import sweeps

    ray, why, _ = sweeps._ray(None)  # started here, so the sweeps leave it running for the next test
    assert ray is not None, why
    yield ray
    sweeps.shutdown_ray()
