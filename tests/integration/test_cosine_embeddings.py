"""Part B of the cosine sandbox on the packaged sentence embedder."""
import numpy as np
import pytest

from backends import cosine as C

pytestmark = pytest.mark.integration


def test_rescaling_real_embeddings_changes_cosines_not_dot_products(registry):
    sentences = ["A cat sits on the mat.", "A kitten is resting on the rug.", "The central bank raised rates.",
                 "Inflation slowed this month."]
    E = C.embed(sentences)
    assert E.shape == (4, 384)
    before = C.cosine_matrix(E)
    assert before[0, 1] > before[0, 2] + 0.2 and before[2, 3] > before[2, 0]
    r = C.rescale_embeddings(E, sentences, strength=2.0, seed=0)
    assert r.dot_gap < 1e-8
    assert np.abs(r.cos_after - r.cos_before).max() > 0.05
