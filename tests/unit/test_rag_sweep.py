"""The RAG evaluation as the "rag" sweep, in-process with the fake embedder and a tiny Llama: the same records
and figures as the question-by-question loop, the index object reused, which indexes Ray workers may load, stop
and resume, and the tab's streaming."""
import pytest

from backends import rag as R
from backends import sweeps
from backends.config import InputError
from backends.rag import evaluation as RE
from tests.rag_helpers import DOCS, fake_rag_registry

QA = [{"id": "a", "question": "who explored the river missouri?", "answer": "lewis and clark", "pid": 2},
      {"id": "b", "question": "what is the capital of france?", "answer": "paris", "aliases": ["Paris"], "pid": 1},
      {"id": "c", "question": "where did the cat sit?", "answer": "on the mat", "pid": 0, "doc": "ignored"}]
SETTINGS = dict(k=2, modes=("token", "sequence", "top1", "none"), max_new_tokens=4, retrieval="hybrid")


@pytest.fixture()
def fake_registry(tmp_path):
    with fake_rag_registry(tmp_path) as reg:
        yield reg


def test_the_sweep_gives_the_records_and_figures_of_the_loop(fake_registry):
    idx = R.build_index(texts=DOCS)
    loop = [sweeps.round_trip(r) for r in R.evaluate_iter(idx, QA, **SETTINGS)]
    ref = R.summarize(loop, 2, SETTINGS["modes"], 0.0, "hybrid")
    rep = R.evaluate(idx, QA, **SETTINGS)
    assert rep.records == loop  # greedy decoding and exact retrieval: identical records
    assert all(list(a) == list(b) == RE.record_keys(rep.modes) for a, b in zip(rep.records, loop))  # field order
    for name in ("n", "k", "modes", "recall", "exact_match", "f1", "contains", "retrieval", "recall_by_retrieval"):
        assert getattr(rep, name) == getattr(ref, name), name
    assert rep.stopped == "" and rep.sweep["backend"] == "local" and rep.sweep["failed"] == 0
    assert {"token_answer", "sequence_em", "top1_f1", "none_contains"} <= set(rep.records[0])


def test_in_process_the_sweep_uses_the_index_object_it_is_given(fake_registry, monkeypatch):
    idx = R.build_index(texts=DOCS)
    options = RE.sweep_options(idx, 2, modes=["none"])
    assert RE.index_for(options) is idx  # a setup in this process finds the very object (the memo)

    def no_second_index(*a, **k):
        raise AssertionError("the evaluation built or loaded a second index")

    monkeypatch.setattr(RE, "index_for", no_second_index)
    monkeypatch.setattr(RE, "build_index", no_second_index)
    monkeypatch.setattr(RE, "lookup", no_second_index)
    assert R.evaluate(idx, QA, k=2, modes=("none",), max_new_tokens=2).n == 3


def test_options_name_what_a_worker_rebuilds(fake_registry):
    idx = R.build_index(texts=DOCS)
    options = RE.sweep_options(idx, 5, modes=["none", "token", "bogus"], temperature=0.5)
    assert options["corpus"] == "cached" and options["index_key"] == idx.key and options["index_kind"] == "flat"
    assert options["embedder"] == "hash-embedder" and options["generator"] == "tiny-llama"
    assert options["k"] == 3  # at most the corpus's passages
    assert options["modes"] == ["token", "none"] and options["cache_dir"].endswith("rag")
    assert sweeps.round_trip(options) == options
    assert sweeps.kind_of("rag").models(options) == ["hash-embedder", "tiny-llama"]
    retrieval_only = RE.sweep_options(idx, 2, modes=())
    assert retrieval_only["generator"] is None and sweeps.kind_of("rag").models(retrieval_only) == ["hash-embedder"]
    assert RE.qa_item(QA[2]) == {k: v for k, v in QA[2].items() if k != "doc"}


def test_a_worker_loads_a_cached_user_corpus_by_key_and_only_that(fake_registry):
    idx = R.build_index(texts=DOCS)
    options = RE.sweep_options(idx, 2, modes=["none"])
    R.forget_memo()  # as a fresh worker process: nothing in memory
    again = RE.index_for(options)
    assert again is not idx and again.key == idx.key and again.passages == idx.passages and again.source == "cache"
    state = RE._sweep_setup(options)
    assert state["lm"] is fake_registry.get("tiny-llama") and state["k"] == 2
    assert RE._sweep_run(state, [RE.qa_item(QA[1])], [0])[0]["gold_rank_bm25"] == 1
    with pytest.raises(InputError, match="cannot be rebuilt by name: run the evaluation in-process"):
        RE.index_for({**options, "index_key": "0" * 32})


def test_ray_refuses_indexes_its_workers_cannot_load(fake_registry, monkeypatch):
    uncached = R.build_index(texts=DOCS, use_cache=False)
    with pytest.raises(InputError, match="without a cache.*in-process"):
        R.evaluate(uncached, QA, k=2, modes=(), backend="ray", workers=2)
    cached = R.build_index(texts=DOCS)
    monkeypatch.setenv("WORKBENCH_RAY_ADDRESS", "ray://10.0.0.9:10001")
    with pytest.raises(InputError, match="cached on this machine only.*in-process"):
        R.evaluate(cached, QA, k=2, modes=(), backend="ray", workers=2)
    # The uncached index still runs in-process.
    assert R.evaluate(uncached, QA, k=2, modes=()).n == 3


def test_a_time_cap_keeps_the_questions_done_and_resume_finishes_them(fake_registry):
    idx = R.build_index(texts=DOCS)
    full = R.evaluate(idx, QA, k=2, modes=("token",), max_new_tokens=3)
    part = R.evaluate(idx, QA, k=2, modes=("token",), max_new_tokens=3, time_budget_s=1e-9)
    assert part.stopped == "time cap" and part.n == 1 and part.records == full.records[:1]
    done = R.evaluate(idx, QA, k=2, modes=("token",), max_new_tokens=3, resume=True)
    assert done.sweep["resumed"] == 1 and not done.stopped and done.records == full.records
    assert [list(r) for r in done.records] == [list(r) for r in full.records]  # the file's sorted keys, reordered
    with pytest.raises(InputError, match="No question-answer pairs"):
        R.evaluate(idx, [], k=2)
    with pytest.raises(InputError, match="QA pair 2 needs"):
        R.evaluate(idx, [QA[0], {"question": "no answer?"}], k=2)


def test_the_tab_streams_progress_then_the_report(fake_registry, monkeypatch):
    from tabs import rag as tab

    idx = R.build_index(texts=DOCS)
    monkeypatch.setattr(tab, "_index", lambda *a, **k: idx)  # the default corpus would embed 17,796 passages
    outs = [tab.EVALUATION.unpack(o) for o in tab.run_evaluation(3, 2, ["none"], 0.1, 3, "hybrid", "rrf", 0.5, "",
                                                                 "built-in", "in-process", 1, False,
                                                                 progress=lambda *a, **k: None)]
    assert len(outs) >= 2 and all("**Sweep:**" in o["summary"] for o in outs)
    assert outs[0]["csv"] is None and outs[0]["json"] is None
    final = outs[-1]
    assert "3 of 3 questions" in final["summary"] and "3/3 items" in final["summary"]
    assert "Running" not in final["summary"] and final["csv"] and final["json"]
    with pytest.raises(Exception, match="choose in-process or Ray"):
        list(tab.run_evaluation(3, 2, [], 0.1, 3, "hybrid", "rrf", 0.5, "", "built-in", "cluster", 1, False,
                                progress=lambda *a, **k: None))
