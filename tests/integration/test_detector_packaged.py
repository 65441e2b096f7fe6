"""Binoculars on the packaged model and the built-in benchmark."""
import numpy as np
import pytest

from backends import detector as D

pytestmark = pytest.mark.integration


TINY_GENERATORS = {"smollm2-135m-instruct", "gemma3-270m"}


@pytest.fixture(scope="module")
def evaluation(registry):
    # The tiny pair's calibration covers the texts of the two tiny models (the Qwen texts were added
    # later for the cpu profile's pair, and are scored in tests/defaults).
    return D.evaluate(D.sample_benchmark(D.load_benchmark(), generators=TINY_GENERATORS))  # no time budget


def test_benchmark_asset_has_provenance():
    items = D.load_benchmark()
    human = [i for i in items if i.label == "human"]
    machine = [i for i in items if i.label == "machine"]
    assert len(human) >= 200 and len(machine) >= 200
    assert {i.generator for i in machine} == TINY_GENERATORS | {"qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"}
    for it in machine:
        assert {"seed", "prompt", "top_p", "max_new_tokens"} <= set(it.meta) and it.source.startswith("sotu:")
    # Prompts come from held-out paragraphs, never from the human set.
    assert not {i.source for i in human} & {i.source for i in machine}


def test_machine_texts_score_lower_than_human_texts(evaluation):
    rows = evaluation.scores
    human = np.mean([r["binoculars"] for r in rows if r["label"] == "human"])
    machine = np.mean([r["binoculars"] for r in rows if r["label"] == "machine"])
    print(f"\nbuilt-in benchmark: Binoculars AUROC {evaluation.binoculars.auroc:.3f}, "
          f"perplexity AUROC {evaluation.perplexity.auroc:.3f}, TPR@1%FPR {evaluation.binoculars.tpr_at_fpr[0.01]:.2f}")
    assert machine < human
    assert evaluation.binoculars.auroc > 0.8
    # The paper's point at small scale: the ratio beats perplexity alone.
    assert evaluation.binoculars.auroc > evaluation.perplexity.auroc


def test_stored_calibration_matches_a_fresh_evaluation(evaluation):
    stored = D.load_calibrations()[D.calibration_key("smollm2-135m-instruct", "smollm2-135m-instruct")]
    assert stored["auroc"] == pytest.approx(evaluation.binoculars.auroc, abs=1e-3)
    assert stored["threshold"] == pytest.approx(evaluation.binoculars.threshold, rel=1e-3)
    thr, source = D.default_threshold("smollm2-135m-instruct", "smollm2-135m-instruct")
    assert thr == stored["threshold"] and "calibration" in source


def test_documented_behaviour_on_the_examples(registry):
    from tabs.detector import EXAMPLES

    by_name = {e["name"].split(":")[0]: e["text"] for e in EXAMPLES}
    scores = {k: r.score for k, r in zip(by_name, D.binoculars(list(by_name.values())))}
    # A random string is surprising to the model and reads as human, as the paper documents.
    assert scores["Random string"] > scores["Machine"]
