"""Method implementations of the workbench: pure Python/torch/numpy, no Gradio, no plotting.

Nothing here loads a model at import time; models come from :mod:`backends.models` at first use.
"""
