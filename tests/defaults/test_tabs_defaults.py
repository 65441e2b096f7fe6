"""One check per tab on the default cpu profile (Qwen2.5-Coder 0.5B/1.5B in int8), on small inputs.

The fast tier runs the same backends on the tiny profile in depth; these make sure every tab works
on what a user gets by default, and that the stronger models show the effect where a small input can.
"""
import numpy as np
import pytest

pytestmark = pytest.mark.defaults


def test_detector_runs_the_two_model_pair(registry):
    from backends import detector as D
    from tabs.detector import EXAMPLES

    human = next(e["text"] for e in EXAMPLES if e["name"].startswith("Human"))
    r = D.binoculars([human])[0]
    assert (r.observer, r.performer) == ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b") and not r.single_model
    assert np.isfinite(r.score) and len(r.token_log_ppl) == len(r.token_log_xppl) > 10
    # The pair has a stored calibration (scripts/build_detector_benchmark.py), with single-model figures beside it.
    stored = D.load_calibrations()[D.calibration_key(r.observer, r.performer)]
    assert "calibration" in r.threshold_source and r.threshold == stored["threshold"]
    assert stored["single_model"]["model"] == r.observer and stored["n_human"] >= 25


def test_cot_decoding_finds_the_answer_on_the_default_model(registry):
    from backends import cot_decoding as CD

    ex = CD.explore("Janet has 3 apples and buys 5 more. How many apples does she have now?", k=5,
                    max_new_tokens=48)
    assert ex.model == "qwen2.5-coder-0.5b" and len(ex.paths) == 5
    assert ex.max_path_answer == "8"
    # The answer span ends where the QA turn ends: no path runs on into a "B:" line.
    assert not any("\nB:" in p.text for p in ex.paths)


def test_logit_lens_and_lossless_self_speculation(registry):
    from backends import early_exit as EE

    lens = EE.logit_lens("The capital of France is Paris. The capital of Italy is")
    assert lens.model == "qwen2.5-coder-0.5b@float32" and lens.n_layers == 24
    assert lens.top_tokens[-1][-1][0].strip() == "Rome"
    assert EE.lens_matches_model("The capital of France is Paris.") < 1e-5
    for prompt, e, d in (("The history of the United States begins", 6, 2), ("def fibonacci(n):", 12, 3)):
        r = EE.self_speculative(prompt, exit_layer=e, num_speculations=d, max_new_tokens=16)
        assert r.identical and r.drafted >= r.accepted, (prompt, e, d)
    # The hooks work on the int8 copy too (its lens is exact against its own output).
    assert EE.lens_matches_model("The capital of France is Paris.", "qwen2.5-coder-0.5b") < 1e-4


def test_bandit_agent_plays_valid_arms(registry):
    from backends import bandits as B

    run = B.run_llm("BNRN0", B.make_instance("hard", seed=0), horizon=6, replicates=1, seed=0)
    assert run.model == "qwen2.5-coder-1.5b" and run.choices.shape == (1, 6)
    assert run.parse_counts()["ok"] == 6 and ((run.choices >= 0) & (run.choices < 5)).all()


def test_cosine_sandbox_embeds_real_sentences(registry):
    from backends import cosine as C

    assert registry.slots["embedder"] == "all-minilm-l6-v2"
    sentences = ["A cat sat on the mat.", "A kitten rested on the rug.", "Stock markets fell sharply today."]
    emb = C.embed(sentences)
    sims = emb @ emb.T / np.outer(np.linalg.norm(emb, axis=1), np.linalg.norm(emb, axis=1))
    assert sims[0, 1] > sims[0, 2]


def test_rag_reader_answers_from_the_retrieved_passages(registry):
    from backends import rag as R

    index = R.build_index()
    ans = R.answer(index, "Which river did Lewis and Clarke explore?", mode="token", k=3, max_new_tokens=16)
    assert ans.model == "qwen2.5-coder-0.5b" and ans.text.strip()
    assert len(ans.token_posteriors) == len(ans.tokens) and len(ans.passages) == 3


def test_framing_zero_shot_tone_and_metaphors_on_the_chat_model(registry):
    from backends import framing as F

    t = F.analyze_text("Immigrants have enriched our nation. We welcome the Chinese laborers who built our "
                       "railroads and honor their contribution to America.")
    probs = F.zero_shot_tone(["We must stop the flood of illegal aliens pouring across our border."])
    assert probs.shape == (1, 3) and probs.sum() == pytest.approx(1, abs=1e-6)
    assert registry.slots["chat"] == "qwen2.5-coder-1.5b"
    assert t.segments and t.metaphors is not None
