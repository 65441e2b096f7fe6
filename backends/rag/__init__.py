"""Retrieval-augmented generation (Lewis et al. 2020) over State of the Union addresses or your own texts.

Retriever: passages of about 100 words (the paper's unit) are embedded with the registry's sentence
embedder, L2-normalised, and searched by maximum inner product in a FAISS index (exact by default;
HNSW or IVF as options). A BM25 index over the same passages ranks them by words; the default
"hybrid" retrieval fuses the two lists (reciprocal-rank fusion, or weighted scores). Whatever chose the
top-k passages z, they get the prior p(z|x) = softmax_z(d(z)^T q(x) / temperature) over those k, from
the dense query embedding q(x).

Generator: the registry's ``reader`` model, prompted with one passage and the question. Two ways to
marginalise the latent passage (the method note, ``shared/methods/rag.md``):

* RAG-Sequence: p(y|x) = sum_z p(z|x) prod_i p(y_i|x,z,y_<i). Candidates are decoded greedily under
  each passage, then every candidate is scored under every passage ("thorough" decoding); the
  candidate with the largest marginal wins.
* RAG-Token: p(y|x) = prod_i sum_z p(z|x) p(y_i|x,z,y_<i). The k passage-conditioned prompts run as
  one left-padded batch with a shared KV cache; each step takes the mixture's most likely token and
  feeds it to every row. The posterior p(z|x,y_<=i) after each token says which passage it came from.

Baselines: the LM with no passage ("none") and with the top-1 passage only ("top1").

The package, along its seams:

- :mod:`~backends.rag.corpus`: passages, the splitting rule, the default corpus, user documents.
- :mod:`~backends.rag.index`: embeddings, the FAISS index, its on-disk cache and the shipped asset.
- :mod:`~backends.rag.sparse`: the BM25 index and its cache.
- :mod:`~backends.rag.retrieval`: dense, BM25 and hybrid rankings; the top-k passages with their prior.
- :mod:`~backends.rag.marginal`: the arithmetic of both models.
- :mod:`~backends.rag.generate`: prompts, RAG-Token decoding, RAG-Sequence candidates and scores.
- :mod:`~backends.rag.answers`: :class:`Answer`, :func:`run_modes`, :func:`answer`.
- :mod:`~backends.rag.evaluation`: EM/F1, recall@n, :func:`evaluate`.

(The modules holding ``answer()``, ``evaluate()`` and ``retrieve()`` are named ``answers``, ``evaluation``
and ``retrieval`` so that no function shadows its own module as an attribute of the package.)

Every public name is re-exported here (``__all__``): ``from backends.rag import answer`` and
``rag.build_index`` work as they did when this was one module.
Python calls run without a time budget unless given ``time_budget_s``; the tab passes the app's.
"""
from __future__ import annotations

from backends.cache import CacheError
from backends.decoding import ProgressFn, normalise
from backends.rag.answers import (
    LOW_SCORE,
    MODE_LABELS,
    MODES,
    Answer,
    answer,
    find_span,
    generator,
    low_score_warning,
    run_modes,
    short_answer,
    texts_of,
)
from backends.rag.corpus import (
    ASSETS,
    CSV_TEXT_COLUMNS,
    DEFAULT_CORPUS,
    MAX_CORPUS_CHARS,
    MAX_PASSAGE_WORDS,
    MAX_PDF_PAGES,
    MAX_UPLOAD_FILES,
    MAX_USER_PASSAGES,
    MIN_TAIL_WORDS,
    PASSAGE_WORDS,
    PUBLIC_MAX_CORPUS_CHARS,
    PUBLIC_MAX_USER_PASSAGES,
    ROOT,
    SPLIT_VERSION,
    UPLOAD_SUFFIXES,
    Document,
    Passage,
    corpus_caps,
    corpus_hash,
    default_passages,
    passages_from_documents,
    read_documents,
    read_file,
    split_passages,
    split_sentences,
)
from backends.rag.evaluation import (
    QA_PATH,
    QA_REWORDED_PATH,
    RECALL_AT,
    Report,
    contains_answer,
    evaluate,
    evaluate_iter,
    exact_match,
    f1_score,
    load_qa,
    normalize_answer,
    summarize,
)
from backends.rag.generate import (
    DEFAULT_NEW_TOKENS,
    INSTRUCTION,
    INSTRUCTION_NONE,
    MAX_PASSAGE_CHARS,
    Generation,
    SequenceResult,
    TokenResult,
    decode_each,
    decode_plain,
    decode_sequence,
    decode_token,
    dedupe,
    prefill_passages,
    prompt_ids,
    prompt_text,
    score_candidates,
    shared_prefix,
)
from backends.rag.index import (
    ASSET_CHECK_MIN_COS,
    ASSET_CHECK_PASSAGES,
    ASSET_EMBEDDINGS,
    ASSET_META,
    CACHE_FORMAT,
    INDEX_KINDS,
    MEMO_SIZE,
    Corpus,
    Index,
    build_index,
    cache_root,
    cached_faiss,
    check_asset,
    corpus_of,
    default_index_ready,
    embed_texts,
    embedder_id,
    forget_memo,
    index_key,
    load_cache,
    lookup,
    make_faiss,
    save_cache,
    write_default_asset,
)
from backends.rag.marginal import (
    DEFAULT_TEMPERATURE,
    log_prior_of,
    retrieval_prior,
    sequence_marginal,
    sequence_posterior,
    token_mixture,
    token_posterior,
)
from backends.rag.retrieval import (
    DEFAULT_ALPHA,
    DEFAULT_K,
    FUSION_DEPTH,
    FUSIONS,
    MAX_K,
    MAX_QUESTION_CHARS,
    RETRIEVAL_LABELS,
    RETRIEVAL_MODES,
    RRF_C,
    Hit,
    Rankings,
    check_k,
    check_question,
    check_retrieval,
    embed_query,
    hits_from,
    rankings,
    retrieve,
    with_prior,
)
from backends.rag.sparse import BM25_FORMAT, Bm25Index, bm25_index

__all__ = [
    # backends.cache
    "CacheError",
    # backends.decoding
    "ProgressFn", "normalise",
    # backends.rag.answers
    "LOW_SCORE", "MODE_LABELS", "MODES", "Answer", "answer", "find_span", "generator", "low_score_warning", "run_modes",
    "short_answer", "texts_of",
    # backends.rag.corpus
    "ASSETS", "CSV_TEXT_COLUMNS", "DEFAULT_CORPUS", "MAX_CORPUS_CHARS", "MAX_PASSAGE_WORDS", "MAX_PDF_PAGES",
    "MAX_UPLOAD_FILES", "MAX_USER_PASSAGES", "MIN_TAIL_WORDS", "PASSAGE_WORDS", "PUBLIC_MAX_CORPUS_CHARS",
    "PUBLIC_MAX_USER_PASSAGES", "ROOT", "SPLIT_VERSION", "UPLOAD_SUFFIXES", "Document", "Passage", "corpus_caps",
    "corpus_hash", "default_passages", "passages_from_documents", "read_documents", "read_file", "split_passages",
    "split_sentences",
    # backends.rag.evaluation
    "QA_PATH", "QA_REWORDED_PATH", "RECALL_AT", "Report", "contains_answer", "evaluate", "evaluate_iter",
    "exact_match", "f1_score", "load_qa", "normalize_answer", "summarize",
    # backends.rag.generate
    "DEFAULT_NEW_TOKENS", "INSTRUCTION", "INSTRUCTION_NONE", "MAX_PASSAGE_CHARS", "Generation", "SequenceResult",
    "TokenResult", "decode_each", "decode_plain", "decode_sequence", "decode_token", "dedupe", "prompt_ids",
    "prompt_text", "score_candidates", "prefill_passages", "shared_prefix",
    # backends.rag.index
    "ASSET_CHECK_MIN_COS", "ASSET_CHECK_PASSAGES", "ASSET_EMBEDDINGS", "ASSET_META", "CACHE_FORMAT", "INDEX_KINDS",
    "MEMO_SIZE", "Corpus", "Index", "build_index", "cache_root", "cached_faiss", "check_asset", "corpus_of",
    "default_index_ready", "embed_texts", "embedder_id", "forget_memo", "index_key", "load_cache", "lookup",
    "make_faiss", "save_cache", "write_default_asset",
    # backends.rag.marginal
    "DEFAULT_TEMPERATURE", "log_prior_of", "retrieval_prior", "sequence_marginal", "sequence_posterior",
    "token_mixture", "token_posterior",
    # backends.rag.retrieval
    "DEFAULT_ALPHA", "DEFAULT_K", "FUSION_DEPTH", "FUSIONS", "MAX_K", "MAX_QUESTION_CHARS", "RETRIEVAL_LABELS",
    "RETRIEVAL_MODES", "RRF_C", "Hit", "Rankings", "check_k", "check_question", "check_retrieval", "embed_query",
    "hits_from", "rankings", "retrieve", "with_prior",
    # backends.rag.sparse
    "BM25_FORMAT", "Bm25Index", "bm25_index",
]
