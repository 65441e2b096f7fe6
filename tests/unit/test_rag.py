"""RAG backend without real models: the marginalisation arithmetic, passage splitting, uploads, the index cache,
and the batched KV-cache decoders checked against plain separate forward passes of a tiny random Llama."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from backends import cache
from backends import decoding as D
from backends import lm as LM
from backends import rag as R
from backends.config import InputError
from tests.fakes import tiny_lm
from tests.rag_helpers import DOCS, fake_rag_registry


@pytest.fixture()
def fake_registry(tmp_path):
    with fake_rag_registry(tmp_path) as reg:
        yield reg


# ----- marginalisation arithmetic -------------------------------------------------------------------
def test_retrieval_prior_is_a_tempered_softmax():
    scores = [0.6, 0.5, 0.2]
    p = R.retrieval_prior(scores, temperature=0.1)
    expect = np.exp(np.array(scores) / 0.1) / np.exp(np.array(scores) / 0.1).sum()
    np.testing.assert_allclose(p, expect)
    assert abs(p.sum() - 1) < 1e-12 and list(np.argsort(-p)) == [0, 1, 2]
    np.testing.assert_allclose(R.retrieval_prior(scores, temperature=1e4), [1 / 3] * 3, atol=1e-4)


def test_rag_token_mixture_and_posterior_by_hand():
    prior = np.array([0.75, 0.25])
    p = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    mix = np.exp(R.token_mixture(np.log(prior), np.log(p)))
    np.testing.assert_allclose(mix, [0.4, 0.25, 0.35])  # 0.75*0.5+0.25*0.1, ...
    post = R.token_posterior(np.log(prior), np.log(p[:, 2]))
    np.testing.assert_allclose(post, [0.15 / 0.35, 0.2 / 0.35])
    # A token that only passage 1 can produce is attributed to it entirely.
    np.testing.assert_allclose(R.token_posterior(np.log(prior), np.log([0.3, 1e-300])), [1.0, 0.0], atol=1e-12)


def test_rag_sequence_marginal_by_hand_can_overrule_the_top_passage():
    prior = np.array([0.6, 0.4])
    lik = np.array([[0.5, 0.2],   # candidate 1, candidate 2 under passage 1
                    [0.1, 0.6]])  # under passage 2
    marg = np.exp(R.sequence_marginal(np.log(prior), np.log(lik)))
    np.testing.assert_allclose(marg, [0.6 * 0.5 + 0.4 * 0.1, 0.6 * 0.2 + 0.4 * 0.6])  # 0.34, 0.36
    assert int(np.argmax(marg)) == 1  # the top passage prefers candidate 1; the marginal prefers 2


def test_sequence_and_token_models_differ_on_multi_token_answers():
    # Two steps, two passages: per-token mixing (RAG-Token) is not a mixture of products (RAG-Sequence).
    prior = np.log([0.5, 0.5])
    step1 = np.log([[0.9], [0.1]])  # p(y1 | z)
    step2 = np.log([[0.1], [0.9]])  # p(y2 | z, y1)
    seq = np.exp(R.sequence_marginal(prior, step1 + step2))[0]
    tok = np.exp(R.token_mixture(prior, step1)[0] + R.token_mixture(prior, step2)[0])
    assert math.isclose(seq, 0.09) and math.isclose(tok, 0.25)


def test_token_mixture_in_torch_matches_numpy():
    rng = np.random.default_rng(0)
    log_prior = np.log([0.5, 0.3, 0.2])
    logp = torch.log_softmax(torch.tensor(rng.normal(size=(3, 50)), dtype=torch.float32), -1)
    fast = R.token_mixture(log_prior, logp)
    assert isinstance(fast, torch.Tensor) and fast.dtype == torch.float64
    np.testing.assert_allclose(fast.numpy(), R.token_mixture(log_prior, logp.double().numpy()), rtol=1e-12)


# ----- batched decoders against plain forward passes ---------------------------------------------------
def _hits(texts, priors):
    return [R.Hit(R.Passage(i, "d", "", t), i, 0.5, p) for i, (t, p) in enumerate(zip(texts, priors))]


def _full_logp(lm, ids):
    with torch.no_grad():
        return torch.log_softmax(lm.model(torch.tensor([ids])).logits[0].float(), -1)


def test_rag_token_with_one_passage_is_plain_greedy_decoding():
    lm = tiny_lm(seed=1)
    passage = R.Passage(0, "d", "", DOCS[1])
    pre = D.prefill(lm, [R.prompt_ids(lm, "what is the capital?", passage)])
    res = R.decode_token(lm, pre, np.log([1.0]), 12)
    plain = LM.generate(lm, R.prompt_text("what is the capital?", passage) + "\nAnswer:", max_new_tokens=12)
    assert res.ids == plain.token_ids[: len(res.ids)] and len(res.ids) > 0
    np.testing.assert_allclose(res.posteriors, 1.0)
    np.testing.assert_allclose(res.passage_posterior, [1.0])


def test_passage_prefill_runs_the_shared_prefix_once_and_matches_one_padded_batch():
    lm = tiny_lm(seed=1)
    prompts = [R.prompt_ids(lm, "what is the capital?", R.Passage(i, "d", "", t)) for i, t in enumerate(DOCS)]
    n = R.shared_prefix(prompts)
    assert n > 50 and all(p[:n] == prompts[0][:n] for p in prompts) and len({p[n] for p in prompts}) > 1
    fast, padded = R.prefill_passages(lm, prompts), D.prefill(lm, prompts)
    assert torch.equal(fast.mask, padded.mask) and torch.equal(fast.next_pos, padded.next_pos)
    torch.testing.assert_close(fast.logits, padded.logits, atol=1e-5, rtol=1e-5)
    log_prior = np.log([0.5, 0.3, 0.2])
    a, b = (R.decode_token(lm, pre, log_prior, 12, stop_ids=set()) for pre in (fast, padded))
    assert a.ids == b.ids and len(a.ids) == 12  # an empty stop set decodes exactly the limit
    np.testing.assert_allclose(a.per_passage, b.per_passage, atol=1e-5)
    assert R.shared_prefix([[1, 2, 3], [1, 2, 3]]) == 2  # each prompt keeps a token of its own


def test_rag_token_batch_matches_separate_passes():
    lm = tiny_lm(seed=1)
    q = "what is the capital?"
    hits = _hits(DOCS, [0.5, 0.3, 0.2])  # prompts of different lengths: left padding is exercised
    pre = R.prefill_passages(lm, [R.prompt_ids(lm, q, h.passage) for h in hits])
    log_prior = np.log([h.prior for h in hits])
    res = R.decode_token(lm, pre, log_prior, 10)
    ids, post, per_z, total = res.ids, res.posteriors, res.per_passage, res.logprob
    ref = np.zeros((len(ids), len(hits)))
    mixes = []
    for z, h in enumerate(hits):
        p_ids = R.prompt_ids(lm, q, h.passage)
        logp = _full_logp(lm, p_ids + ids)
        for i, t in enumerate(ids):
            ref[i, z] = float(logp[len(p_ids) - 1 + i, t])
    np.testing.assert_allclose(per_z, ref, atol=1e-4)
    for i in range(len(ids)):
        mixes.append(R.token_mixture(log_prior, ref[i][:, None])[0])
        np.testing.assert_allclose(post[i], R.token_posterior(log_prior, ref[i]), atol=1e-4)
    # The answer's log-probability is the sum of the mixtures (the end token adds one more term if reached).
    assert total <= sum(mixes) + 1e-4
    np.testing.assert_allclose(res.passage_posterior, R.token_posterior(log_prior, ref.sum(0)), atol=1e-4)
    # The prefill is forked, not consumed: a second decode from it gives the same answer.
    assert R.decode_token(lm, pre, log_prior, 10).ids == ids


def test_candidate_scores_match_separate_passes():
    lm = tiny_lm(seed=2)
    q = "who explored the river?"
    hits = _hits(DOCS, [0.2, 0.3, 0.5])
    pre = D.prefill(lm, [R.prompt_ids(lm, q, h.passage) for h in hits])
    tok = lm.tokenizer
    cands = [tok("lewis")["input_ids"][1:], tok("clark and lewis")["input_ids"][1:], []]  # lengths 5, 15, 0
    ll = R.score_candidates(lm, pre, cands)
    eos = tok.eos_token_id
    for z, h in enumerate(hits):
        p_ids = R.prompt_ids(lm, q, h.passage)
        for c, cand in enumerate(cands):
            seq = cand + [eos]
            logp = _full_logp(lm, p_ids + seq)
            ref = sum(float(logp[len(p_ids) - 1 + i, t]) for i, t in enumerate(seq))
            assert abs(ll[z, c] - ref) < 1e-3
    np.testing.assert_allclose(R.score_candidates(lm, pre, cands, rows=[2]), ll[[2]])  # one passage alone


def test_decode_each_matches_per_passage_greedy():
    lm = tiny_lm(seed=4)
    q = "where is the tower?"
    hits = _hits(DOCS, [0.4, 0.4, 0.2])
    pre = D.prefill(lm, [R.prompt_ids(lm, q, h.passage) for h in hits])
    seqs = R.decode_each(lm, pre, 8)
    for h, seq in zip(hits, seqs):
        g = LM.generate(lm, R.prompt_text(q, h.passage) + "\nAnswer:", max_new_tokens=8)
        assert seq == [t for t in g.token_ids if t != lm.tokenizer.eos_token_id][: len(seq)]


# ----- passage splitting ---------------------------------------------------------------------------
def test_split_passages_keeps_every_word_in_order_and_sentences_whole():
    rng = np.random.default_rng(0)
    sentences = [" ".join(f"w{i}_{j}" for j in range(int(rng.integers(3, 40)))) + "." for i in range(120)]
    text = "  \n".join(sentences)
    parts = R.split_passages(text)
    assert " ".join(parts).split() == text.split()
    lengths = [len(p.split()) for p in parts]
    assert max(lengths) <= R.MAX_PASSAGE_WORDS + R.MIN_TAIL_WORDS
    assert all(n >= R.PASSAGE_WORDS * 0.5 for n in lengths[:-1])
    assert all(p.endswith(".") for p in parts)  # no sentence was cut (all are shorter than the cap)


def test_split_passages_cuts_a_run_on_sentence_and_merges_a_short_tail():
    words = [f"x{i}" for i in range(425)]
    parts = R.split_passages(" ".join(words))
    assert [len(p.split()) for p in parts] == [100, 100, 100, 125]  # the 25-word tail joins the last piece
    assert R.split_passages("One short text.") == ["One short text."]
    assert R.split_passages("   ") == []


def test_default_corpus_passages_have_metadata():
    ps = R.default_passages()
    assert len(ps) > 15_000
    assert ps[0].doc == "1790-Washington-1" and ps[0].year == 1790 and ps[0].president == "George Washington"
    assert ps[-1].year == 2026
    assert [p.pid for p in ps[:50]] == list(range(50))
    assert 90 <= np.median([len(p.text.split()) for p in ps]) <= 130
    assert "George Washington, 1790" in ps[0].embed_text()


# ----- user corpora --------------------------------------------------------------------------------
def _pdf_with_text(text: str) -> bytes:
    """A minimal one-page PDF with a text layer (what a word processor's export holds)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def test_read_documents_of_each_type(tmp_path):
    (tmp_path / "a.txt").write_text("Plain text about cats.")
    (tmp_path / "b.md").write_text("# Title\n\nSome **bold** words and a [link](http://x).")
    (tmp_path / "c.csv").write_text("title,text\nFirst,Row one text.\nSecond,Row two text.\n")
    (tmp_path / "d.pdf").write_bytes(_pdf_with_text("The treaty was signed at Ghent."))
    docs = R.read_documents([tmp_path / n for n in ("a.txt", "b.md", "c.csv", "d.pdf")], ["pasted words"])
    assert [d.name for d in docs] == ["a.txt", "b.md", "c.csv", "c.csv", "d.pdf", "pasted text"]
    assert docs[1].text.startswith("Title") and "**" not in docs[1].text and "http" not in docs[1].text
    assert docs[2].title == "First" and docs[3].text == "Row two text."
    assert "signed at Ghent" in docs[4].text


@pytest.mark.parametrize("name,content,why", [
    ("x.docx", b"PK..", "unsupported file type .docx"),
    ("e.txt", b"", "the file is empty"),
    ("l1.txt", b"caf\xe9", "not UTF-8"),
    ("n.csv", b"title,body2\na,b\n", "needs a text column"),
    ("bad.pdf", b"%PDF-1.4 this is not really a pdf", "PDF"),
    ("img.pdf", None, "no text could be extracted"),
])
def test_bad_uploads_name_the_file_and_say_why(tmp_path, name, content, why):
    if content is None:  # a PDF whose page has no text layer (a scan)
        from pypdf import PdfWriter

        w = PdfWriter()
        w.add_blank_page(612, 792)
        with open(tmp_path / name, "wb") as f:
            w.write(f)
    else:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError) as e:
        R.read_documents([tmp_path / name])
    assert name in str(e.value) and why in str(e.value)


def test_upload_limits(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_MAX_UPLOAD_BYTES", "100")
    (tmp_path / "big.txt").write_text("word " * 100)
    with pytest.raises(InputError, match=r"big\.txt: the file is 0\.0 MB; the limit"):
        R.read_documents([tmp_path / "big.txt"])
    monkeypatch.delenv("WORKBENCH_MAX_UPLOAD_BYTES")
    (tmp_path / "s.txt").write_text("x")
    with pytest.raises(InputError, match="the limit is 20"):
        R.read_documents([tmp_path / "s.txt"] * (R.MAX_UPLOAD_FILES + 1))
    with pytest.raises(InputError, match="holds no text"):
        R.read_documents([], ["   ", ""])


# ----- the index and its cache ---------------------------------------------------------------------
def test_index_keys_depend_on_corpus_and_embedder():
    a = R.corpus_hash([R.Passage(0, "d", "t", "text one")])
    b = R.corpus_hash([R.Passage(0, "d", "t", "text two")])
    assert a != b and R.index_key(a, "e1") != R.index_key(a, "e2") != R.index_key(b, "e2")
    assert R.index_key(a, "e1") == R.index_key(a, "e1")


def test_build_caches_then_loads_then_rebuilds_when_corrupt(fake_registry):
    idx = R.build_index(texts=["\n\n".join(DOCS)])
    assert idx.source == "built" and idx.size == 1 and idx.cache_path
    R.forget_memo()
    again = R.build_index(texts=["\n\n".join(DOCS)])
    assert again.source == "cache" and again.key == idx.key
    np.testing.assert_allclose(again.embeddings, idx.embeddings)
    entry = fake_registry.cache_dir / "rag" / idx.key
    raw = bytearray((entry / "embeddings.npy").read_bytes())
    raw[-5] ^= 0xFF  # flip bits in the last vector
    (entry / "embeddings.npy").write_bytes(bytes(raw))
    with pytest.raises(R.CacheError, match="checksum"):
        R.load_cache(entry.parent, idx.key)
    R.forget_memo()
    rebuilt = R.build_index(texts=["\n\n".join(DOCS)])
    assert rebuilt.source == "rebuilt-built"  # and the status line says the cache was damaged
    R.load_cache(entry.parent, idx.key)  # valid again
    (entry / cache.MANIFEST).write_text("{not json")
    R.forget_memo()
    assert R.build_index(texts=["\n\n".join(DOCS)]).source == "rebuilt-built"
    assert not list((fake_registry.cache_dir / "rag").glob(".tmp-*"))  # no half-written entries left behind


def test_changed_corpus_gets_a_new_entry(fake_registry):
    a = R.build_index(texts=["alpha beta gamma."])
    b = R.build_index(texts=["alpha beta delta."])
    assert a.key != b.key and b.source == "built"


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_retrieve_ranks_by_inner_product_with_a_prior(fake_registry, kind):
    texts = [f"{d} " + " ".join(f"filler{i}_{j}" for j in range(95)) for i, d in enumerate(DOCS * 20)]
    idx = R.build_index(texts=texts, kind=kind)
    hits = R.retrieve(idx, "paris capital france eiffel tower", k=5, mode="dense")
    assert len(hits) == 5 and "paris" in hits[0].passage.text
    assert [h.rank for h in hits] == list(range(5))
    assert all(hits[i].score >= hits[i + 1].score - 1e-6 for i in range(4))
    assert abs(sum(h.prior for h in hits) - 1) < 1e-6


def test_answer_in_every_mode_with_tiny_models(fake_registry):
    idx = R.build_index(texts=DOCS)
    for mode in R.MODES:
        a = R.answer(idx, "what is the capital of france?", mode=mode, k=2, max_new_tokens=6)
        assert a.mode == mode and len(a.retrieved) == 2 and "paris" in a.retrieved[0].passage.text
        assert len(a.passages) == {"none": 0, "top1": 1}.get(mode, 2)
        assert math.isfinite(a.logprob) and a.logprob <= 0
        if mode == "token":
            assert np.array(a.token_posteriors).shape == (len(a.tokens), 2)
            np.testing.assert_allclose(np.array(a.token_posteriors).sum(1), 1.0)
        if mode == "sequence":
            assert a.candidates and a.candidates[0]["logprob"] == pytest.approx(a.logprob)


def test_run_modes_returns_typed_results(fake_registry):
    idx = R.build_index(texts=DOCS)
    hits = R.retrieve(idx, "what is the capital of france?", k=3)
    lm = fake_registry.get("tiny-llama")
    res = R.run_modes(lm, "what is the capital of france?", hits, R.MODES, max_new_tokens=5)
    assert set(res) == set(R.MODES) and all(isinstance(r, R.Generation) for r in res.values())
    tok, seq = res["token"], res["sequence"]
    assert isinstance(tok, R.TokenResult) and isinstance(seq, R.SequenceResult)
    assert tok.posteriors.shape == tok.per_passage.shape == (len(tok.ids), 3)
    assert tok.passage_posterior.sum() == pytest.approx(1.0)
    # RAG-Sequence: the winner is the candidate with the largest marginal of its per-passage likelihoods.
    log_prior = R.log_prior_of([h.prior for h in hits])
    np.testing.assert_allclose(seq.marginal, R.sequence_marginal(log_prior, seq.loglik))
    assert seq.ids == seq.candidates[int(np.argmax(seq.marginal))] and seq.logprob == pytest.approx(seq.marginal.max())
    assert sorted(z for zs in seq.origin for z in zs) == [0, 1, 2]  # every passage produced one candidate
    assert seq.passage_posterior.sum() == pytest.approx(1.0)
    # top-1 is the first passage's own greedy candidate, scored under that passage alone.
    assert res["top1"].ids in seq.candidates and 0 in seq.origin[seq.candidates.index(res["top1"].ids)]
    assert type(res["none"]) is R.Generation and res["none"].logprob <= 0


def test_python_calls_have_no_time_budget_unless_given_one(fake_registry, monkeypatch):
    idx = R.build_index(texts=DOCS)
    monkeypatch.setenv("WORKBENCH_TIME_BUDGET_S", "0.000001")  # the server's budget: spent at once
    assert R.answer(idx, "what is the capital of france?", mode="token", k=2, max_new_tokens=4).mode == "token"
    assert R.evaluate(idx, [{"question": "capital of france?", "answer": "paris", "pid": 1}], k=2,
                      modes=("sequence",), max_new_tokens=3).n == 1
    monkeypatch.delenv("WORKBENCH_TIME_BUDGET_S")
    with pytest.raises(D.TimeBudgetError, match="time budget"):
        R.answer(idx, "what is the capital of france?", mode="token", k=2, max_new_tokens=8, time_budget_s=1e-9)
    with pytest.raises(D.TimeBudgetError, match="time budget"):
        R.build_index(texts=["a different corpus to embed."], time_budget_s=1e-9)


def test_answer_validates_its_inputs(fake_registry):
    idx = R.build_index(texts=DOCS)
    with pytest.raises(InputError, match="empty"):
        R.answer(idx, "   ")
    with pytest.raises(InputError, match="limit is 500"):
        R.answer(idx, "why " * 200)
    for k in (0, R.MAX_K + 1, 2.5):
        with pytest.raises(InputError, match="k"):
            R.answer(idx, "a question?", k=k)
    with pytest.raises(InputError, match="Mode"):
        R.answer(idx, "a question?", mode="beam")
    with pytest.raises(InputError, match="no text"):
        R.build_index(texts=["  "])


def test_low_scores_are_flagged(fake_registry):
    idx = R.build_index(texts=DOCS)
    a = R.answer(idx, "zzz qqq xxx?", mode="top1", k=1, max_new_tokens=2)
    assert "No passage matches the question well" in a.warning
    assert R.answer(idx, "the river missouri was explored by lewis and clark", mode="top1", k=1,
                    max_new_tokens=2).warning == ""


def test_evaluate_reports_recall_and_scores(fake_registry):
    idx = R.build_index(texts=DOCS)
    qa = [{"id": "a", "question": "who explored the river missouri?", "answer": "lewis and clark", "pid": 2},
          {"id": "b", "question": "what is the capital of france?", "answer": "paris", "pid": 1}]
    rep = R.evaluate(idx, qa, k=2, modes=("token", "none"), max_new_tokens=4)
    assert rep.n == 2 and rep.recall[1] == 1.0 and rep.recall[10] == 1.0
    assert set(rep.exact_match) == {"token", "none"} and all(0 <= v <= 1 for v in rep.f1.values())
    only = R.evaluate(idx, qa, k=2, modes=())
    assert only.modes == [] and only.recall[5] == 1.0


def test_answer_scoring_helpers():
    assert R.short_answer("Answer: Paris.\nMore rambling") == "Paris"
    assert R.exact_match("The Missouri.", ["Missouri"]) == 1.0
    assert R.f1_score("the river Missouri", ["Missouri River"]) == 1.0
    assert R.f1_score("Lewis", ["Lewis and Clark"]) == pytest.approx(0.5)  # precision 1, recall 1/3
    assert R.contains_answer("It was surely Paris, France", ["Paris"]) == 1.0
    assert R.find_span("Sailed from Havana today", "havana") == (12, 18)
    assert R.find_span("nothing here", "Paris") is None
    text = "Sailed from the harbor of Havana today"
    a, b = R.find_span(text, "It sank in the harbor of Havana, Cuba.")  # a sentence quoting the passage in part
    assert text[a:b] == "the harbor of Havana"
    assert R.find_span(text, "It was in the sea") is None  # stop words alone are no span


def test_public_mode_caps_user_corpora():
    from backends import config
    from backends import rag as RG

    docs = [RG.Document("a.txt", "a", "word " * 120_000)]  # 600k characters
    config.set_public_mode(True)
    try:
        with pytest.raises(InputError, match="limit is 300,000"):
            RG.read_documents([], ["word " * 70_000])
        with pytest.raises(InputError, match="limit is 1,000"):
            RG.passages_from_documents(docs)
    finally:
        config.set_public_mode(False)
    assert len(RG.passages_from_documents(docs)) > 1_000
