import pytest
from gradio_client import Client


@pytest.fixture(scope="module")
def client(app_url):
    """A gradio_client connected to the app under test."""
    return Client(app_url, verbose=False)
