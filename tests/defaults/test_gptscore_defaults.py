"""GPTScore on the default cpu profile (Qwen2.5-Coder-0.5B-Instruct, int8): the paper's basic effect."""
import pytest

pytestmark = pytest.mark.defaults


def test_ist_fluency_prefers_the_paragraph_to_its_shuffled_words(registry):
    from backends import gptscore as G

    items = G.load_meta_eval()[:4]
    wins = 0
    for i, it in enumerate(items):
        r = G.gptscore([it.source, G.shuffle_words(it.source, 1.0, i)], source=it.source, aspect="fluency",
                       scenario="IST")
        assert r[0].model == "qwen2.5-coder-0.5b"
        wins += r[0].score > r[1].score
    assert wins >= 3, wins
