"""The retriever's index: embeddings of every passage in a FAISS inner-product index, cached on disk.

Indexes are cached under ``<workbench cache>/rag/<key>``, the key hashing the passages and the embedder.
An entry (passages.jsonl, embeddings.npy and a manifest with their checksums) is written by
:func:`backends.cache.atomic_dir` and checked by :func:`backends.cache.check_manifest` plus shapes and
norms when read, so a stale or corrupt entry is rebuilt. The default corpus's embeddings also ship as a
float16 asset (``assets/rag/``), checked against a few fresh embeddings at load, so a first start does
not spend minutes embedding 17,796 passages. Built indexes stay in a small in-process memo in which the
default corpus is pinned.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from backends.cache import (
    CacheError,
    Memo,
    atomic_dir,
    atomic_file,
    check_manifest,
    sha256_file,
    write_manifest,
    write_text,
)
from backends.config import InputError
from backends.decoding import Deadline, ProgressFn, embed, normalise
from backends.rag.corpus import (
    ASSETS,
    DEFAULT_CORPUS,
    PASSAGE_WORDS,
    SPLIT_VERSION,
    UPLOAD_SUFFIXES,
    Passage,
    corpus_hash,
    default_passages,
    passages_from_documents,
    read_documents,
)

if TYPE_CHECKING:
    from backends.models import LoadedModel, ModelSpec
    from backends.rag.sparse import Bm25Index

log = logging.getLogger("backends.rag")

ASSET_EMBEDDINGS = ASSETS / "sotu-embeddings.npz"
ASSET_META = ASSETS / "sotu-embeddings.json"
CACHE_FORMAT = 2  # bump to invalidate every cached index (2: the shared cache module's manifest)
INDEX_KINDS = ("flat", "hnsw", "ivf")
ASSET_CHECK_PASSAGES = 4  # passages re-embedded to check a shipped or cached embedding matrix
ASSET_CHECK_MIN_COS = 0.995  # float16 rounding keeps cosines above 0.9999; another embedder falls far below
MEMO_SIZE = 4  # indexes kept in memory (the default corpus is pinned and stays)

embed_texts = embed  # the name scripts and benchmarks use: unit-normalised float32 embeddings (n, d)


@dataclass(frozen=True)
class Index:
    """Passages, their normalised embeddings (n, d) float32, and a FAISS inner-product index over them."""

    name: str  # "sotu" or "uploaded (3 files)"
    passages: tuple[Passage, ...]
    embeddings: np.ndarray = field(repr=False)
    faiss_index: Any = field(repr=False)
    key: str = ""  # cache key: corpus hash + embedder
    embedder: str = ""  # embedder id (registry name @ version)
    embedder_name: str = ""  # registry name used to embed queries
    kind: str = "flat"
    source: str = "built"  # "built", "cache" or "asset"; "rebuilt-..." when a damaged entry was replaced
    seconds: float = 0.0  # to build or load
    cache_path: str = ""

    @property
    def size(self) -> int:
        return len(self.passages)

    @functools.cached_property
    def bm25(self) -> "Bm25Index":
        """The BM25 index over the same passages (built or loaded at first use, then kept on this object)."""
        from backends.rag.sparse import bm25_index

        return bm25_index(self.passages, use_cache=bool(self.cache_path),
                          cache_dir=Path(self.cache_path).parent if self.cache_path else None,
                          pin=self.name == DEFAULT_CORPUS)

    def status(self) -> dict:
        out = {"corpus": self.name, "passages": self.size, "dim": int(self.embeddings.shape[1]),
               "embedder": self.embedder, "index": self.kind, "source": self.source,
               "seconds": round(self.seconds, 2), "key": self.key[:16], "cached": bool(self.cache_path)}
        if "bm25" in self.__dict__:  # built already: say how
            out["bm25"] = self.bm25.status()
        return out


def embedder_id(emb: "LoadedModel | ModelSpec") -> str:
    """Name the embeddings come from: registry name plus the package version where packaged."""
    from backends.models import PACKAGE_ST, PACKAGE_ZIP, package_version

    spec = getattr(emb, "spec", emb)
    version = package_version(spec.location) if spec.source in (PACKAGE_ST, PACKAGE_ZIP) else spec.location
    return f"{spec.name}@{version}"


def cache_root() -> Path:
    from backends.models import registry

    return Path(registry().cache_dir) / "rag"


def index_key(corpus: str, embedder: str) -> str:
    """The cache key of an index: the corpus hash and the embedder, hashed together."""
    return hashlib.sha256(f"rag-f{CACHE_FORMAT}|{corpus}|{embedder}".encode()).hexdigest()[:32]


# ----- the on-disk cache ----------------------------------------------------------------------------
def save_cache(root: Path, key: str, name: str, passages: Sequence[Passage], embeddings: np.ndarray,
               embedder: str, embedder_name: str) -> Path:
    """Write one cache entry (passages.jsonl, embeddings.npy, a manifest with checksums) atomically."""
    entry = Path(root) / key
    with atomic_dir(entry) as tmp:
        with open(tmp / "passages.jsonl", "w", encoding="utf-8") as f:
            for p in passages:
                f.write(json.dumps(dataclasses.asdict(p), ensure_ascii=False) + "\n")
        np.save(tmp / "embeddings.npy", np.asarray(embeddings, dtype=np.float32))
        write_manifest(tmp, checksums=True, format=CACHE_FORMAT, key=key, name=name, embedder=embedder,
                       embedder_name=embedder_name, n=len(passages), dim=int(embeddings.shape[1]))
    return entry


def load_cache(root: Path, key: str) -> tuple[dict, tuple[Passage, ...], np.ndarray]:
    """(manifest, passages, embeddings) of a valid entry; :class:`CacheError` says what is wrong otherwise."""
    entry = Path(root) / key
    manifest = check_manifest(entry, format=CACHE_FORMAT, key=key)  # every file there, with its checksum
    try:
        emb = np.load(entry / "embeddings.npy", allow_pickle=False)
        with open(entry / "passages.jsonl", encoding="utf-8") as f:
            passages = tuple(Passage(**json.loads(line)) for line in f if line.strip())
        n, dim = manifest["n"], manifest["dim"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise CacheError(f"unreadable: {type(e).__name__}: {e}") from None
    if emb.ndim != 2 or emb.shape != (n, dim) or len(passages) != emb.shape[0]:
        raise CacheError("shapes do not match the manifest")
    norms = np.linalg.norm(emb, axis=1)
    if not np.isfinite(emb).all() or np.abs(norms - 1).max() > 1e-3:
        raise CacheError("embeddings are not finite unit vectors")
    if any(p.pid != i for i, p in enumerate(passages)):
        raise CacheError("passage ids out of order")
    return manifest, passages, emb.astype(np.float32)


def make_faiss(embeddings: np.ndarray, kind: str = "flat") -> Any:
    """An inner-product FAISS index over unit vectors: exact ("flat"), HNSW graph or IVF lists."""
    import faiss

    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    n, d = x.shape
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 128
    elif kind == "ivf":
        nlist = max(1, min(int(4 * math.sqrt(n)), n // 39 or 1))  # FAISS wants ~39 training points per list
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(x)
        index.nprobe = max(1, min(nlist, 16))
    else:
        raise InputError(f"Index kind must be one of {', '.join(INDEX_KINDS)}, got {kind!r}.")
    index.add(x)
    return index


def cached_faiss(entry: Path, embeddings: np.ndarray, kind: str) -> Any:
    """FAISS index of a kind: flat is rebuilt in milliseconds; HNSW/IVF are cached beside the entry's files,
    each with its checksum in a file beside it."""
    import faiss

    if kind == "flat":
        return make_faiss(embeddings, kind)
    path, check = entry / f"index-{kind}.faiss", entry / f"index-{kind}.sha256"
    try:
        if check.read_text().strip() == sha256_file(path):
            index = faiss.read_index(str(path))
            if index.ntotal == embeddings.shape[0] and index.d == embeddings.shape[1]:
                return index
    except (OSError, RuntimeError):
        pass
    index = make_faiss(embeddings, kind)
    try:
        with atomic_file(path) as tmp:
            faiss.write_index(index, str(tmp))
            digest = sha256_file(tmp)
        write_text(check, digest)
    except (OSError, RuntimeError) as e:  # a read-only cache still serves the index from memory
        log.warning("could not cache the %s index: %s", kind, e)
    return index


# ----- the shipped default-corpus embeddings --------------------------------------------------------
def write_default_asset(embeddings: np.ndarray, passages: Sequence[Passage], embedder: str,
                        path: Path = ASSET_EMBEDDINGS, meta_path: Path = ASSET_META) -> dict:
    """Save the default corpus's embeddings as float16 (compressed npz) with a JSON key beside them."""
    emb16 = np.asarray(embeddings, dtype=np.float16)
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, embeddings=emb16)
    meta = {"corpus": DEFAULT_CORPUS, "corpus_hash": corpus_hash(passages), "embedder": embedder,
            "split_version": SPLIT_VERSION, "n": int(emb16.shape[0]), "dim": int(emb16.shape[1]),
            "dtype": "float16", "sha256": hashlib.sha256(emb16.tobytes()).hexdigest(),
            "passage_words": PASSAGE_WORDS}
    write_text(meta_path, json.dumps(meta, indent=1) + "\n")
    return meta


def _asset_is_for(meta: dict, chash: str, embedder: str, n: int) -> bool:
    """Whether the shipped asset's metadata names this corpus (hash and size) and this embedder."""
    return meta.get("corpus_hash") == chash and meta.get("embedder") == embedder and meta.get("n") == n


def check_asset(emb_model: "LoadedModel", passages: Sequence[Passage], embedder: str) -> np.ndarray | None:
    """The shipped float16 embeddings (as unit float32) when they are for this corpus and embedder, else None."""
    try:
        meta = json.loads(ASSET_META.read_text())
        if not _asset_is_for(meta, corpus_hash(passages), embedder, len(passages)):
            log.info("shipped RAG embeddings are for another corpus or embedder; building")
            return None
        with np.load(ASSET_EMBEDDINGS, allow_pickle=False) as z:
            emb16 = z["embeddings"]
        if emb16.shape != (meta["n"], meta["dim"]) or hashlib.sha256(emb16.tobytes()).hexdigest() != meta["sha256"]:
            log.warning("shipped RAG embeddings fail their checksum; building")
            return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.info("no usable shipped RAG embeddings (%s); building", e)
        return None
    emb = normalise(emb16.astype(np.float32))
    # Re-embed a few passages spread over the corpus: a different embedder build or a shuffled asset fails here.
    picks = np.linspace(0, len(passages) - 1, ASSET_CHECK_PASSAGES).astype(int)
    fresh = embed(emb_model, [passages[i].embed_text() for i in picks], what="passages")
    cos = (fresh * emb[picks]).sum(1)
    if cos.min() < ASSET_CHECK_MIN_COS:
        log.warning("shipped RAG embeddings disagree with the embedder (min cosine %.4f); building", cos.min())
        return None
    return emb


# ----- building and loading -------------------------------------------------------------------------
# (key, kind) -> Index. Indexes are immutable and keyed by content; the default corpus is the one every
# visitor uses, so eviction skips it.
_memo: Memo[tuple[str, str], Index] = Memo(MEMO_SIZE, pinned=lambda index: index.name == DEFAULT_CORPUS)


def forget_memo() -> None:
    """Drop the in-memory indexes, dense and BM25 (tests and benchmarks use this to measure loads from disk)."""
    from backends.rag import sparse

    _memo.clear()
    sparse.forget_memo()


def _from_disk(root: Path, key: str, kind: str) -> Index | None:
    try:
        manifest, passages, emb = load_cache(root, key)
    except CacheError as e:
        if (root / key).exists():
            log.warning("RAG cache entry %s is stale or corrupt (%s); rebuilding it", key, e)
        return None
    t0 = time.perf_counter()
    fi = cached_faiss(root / key, emb, kind)
    return Index(manifest["name"], passages, emb, fi, key, manifest["embedder"], manifest["embedder_name"],
                 kind, "cache", time.perf_counter() - t0, str(root / key))


def lookup(key: str, kind: str = "flat", cache_dir: Path | None = None) -> Index | None:
    """An index built earlier in this process, or from the cache folder, by its key; None if neither."""
    hit = _memo.get((key, kind))
    if hit is not None:
        return hit
    root = Path(cache_dir) if cache_dir else cache_root()
    index = _from_disk(root, key, kind)
    return _memo.put((key, kind), index) if index is not None else None


def default_index_ready(embedder: str | None = None, kind: str = "flat") -> bool:
    """Whether the default corpus's index for ``embedder`` (None: the profile's) loads without embedding the
    corpus: it is in memory or in the cache folder, or its embeddings ship with the app and match."""
    from backends.models import registry

    reg = registry()
    spec = reg.spec(reg.resolve(embedder, slot="embedder"))
    passages = default_passages()
    emb_id, chash = embedder_id(spec), corpus_hash(passages)
    key = index_key(chash, emb_id)
    if _memo.get((key, kind)) is not None:
        return True
    try:
        check_manifest(cache_root() / key, format=CACHE_FORMAT, key=key)
        return True
    except CacheError:
        pass
    try:
        meta = json.loads(ASSET_META.read_text())
    except (OSError, ValueError):
        return False
    return _asset_is_for(meta, chash, emb_id, len(passages))


@dataclass(frozen=True)
class Corpus:
    """What an index is built over: its display name, passages, and whether it is the default corpus."""

    name: str
    passages: tuple[Passage, ...]
    default: bool


def corpus_of(sources: Sequence[str | Path] | str | Path | None = None, files: Sequence[str | Path] = (),
              texts: Sequence[str] = ()) -> Corpus:
    """The corpus ``build_index`` is asked for: the default one, or user files and texts (see there)."""
    files, texts = list(files), list(texts)
    if isinstance(sources, (str, Path)):
        sources = [sources]
    for s in sources or []:
        if isinstance(s, Path) or (isinstance(s, str) and "\n" not in s and len(s) < 4096
                                   and Path(s).suffix.lower() in UPLOAD_SUFFIXES and Path(s).is_file()):
            files.append(s)
        else:
            texts.append(s)
    default = not files and not any(t and str(t).strip() for t in texts)
    if default and (files or texts):
        raise InputError("The corpus holds no text: upload .txt, .md, .csv or .pdf files or paste some text.")
    if default:
        return Corpus(DEFAULT_CORPUS, default_passages(), True)
    docs = read_documents(files, texts)
    passages = passages_from_documents(docs)
    names = sorted({d.name for d in docs})
    return Corpus(f"uploaded: {', '.join(names[:3])}{' …' if len(names) > 3 else ''} ({len(passages):,} passages)",
                  passages, False)


@dataclass(frozen=True)
class _Request:
    """One build_index call, resolved: the corpus, the embedder and where the cache lives."""

    corpus: Corpus
    kind: str
    emb_model: Any  # LoadedModel
    emb_id: str
    emb_name: str
    key: str
    root: Path
    use_cache: bool
    use_asset: bool
    budget_s: float | None  # for embedding the passages (None: no budget)
    progress: ProgressFn
    t0: float


def _embeddings(req: _Request) -> tuple[np.ndarray, str]:
    """(embeddings, source): the shipped asset for the default corpus where it checks out, else embedded now."""
    if req.corpus.default and req.use_asset:
        req.progress(0.05, "Checking the shipped embeddings of the default corpus")
        emb = check_asset(req.emb_model, req.corpus.passages, req.emb_id)
        if emb is not None:
            return emb, "asset"
    emb = embed(req.emb_model, [p.embed_text() for p in req.corpus.passages], deadline=Deadline(req.budget_s),
                what="passages", progress=lambda f, m: req.progress(0.05 + 0.9 * f, m))
    return emb, "built"


def _load_or_build(req: _Request) -> Index:
    damaged = False
    if req.use_cache:
        existed = (req.root / req.key).exists()
        hit = _from_disk(req.root, req.key, req.kind)
        if hit is not None:
            return hit
        damaged = existed  # an entry was there but failed its checks: say so
        if damaged:
            req.progress(0.04, "The cached index was damaged or stale: rebuilding it")
    emb, source = _embeddings(req)
    cache_path = ""
    if req.use_cache:
        try:
            cache_path = str(save_cache(req.root, req.key, req.corpus.name, req.corpus.passages, emb, req.emb_id,
                                        req.emb_name))
        except OSError as e:  # a read-only or full disk: the index still works, only uncached
            log.warning("could not cache the RAG index: %s", e)
    req.progress(0.97, f"Building the {req.kind} FAISS index")
    fi = cached_faiss(Path(cache_path), emb, req.kind) if cache_path else make_faiss(emb, req.kind)
    index = Index(req.corpus.name, tuple(req.corpus.passages), emb, fi, req.key, req.emb_id, req.emb_name, req.kind,
                  f"rebuilt-{source}" if damaged else source, time.perf_counter() - req.t0, cache_path)
    req.progress(1.0, f"Index ready: {index.size:,} passages")
    return index


def build_index(sources: Sequence[str | Path] | str | Path | None = None, *, files: Sequence[str | Path] = (),
                texts: Sequence[str] = (), kind: str = "flat", embedder: str | None = None,
                use_cache: bool = True, use_asset: bool = True, progress: ProgressFn | None = None,
                time_budget_s: float | None = None, cache_dir: str | Path | None = None) -> Index:
    """The index over the default corpus (no arguments) or over user files and texts.

    ``sources``: paths (``Path`` objects, or strings naming an existing file with an allowed suffix)
    and raw texts, mixed; ``files``/``texts`` say which is which explicitly (the UI uses these, so
    typed text never becomes a path). ``kind``: "flat" (exact inner product), "hnsw" or "ivf".
    Loads from the in-process memo, then the cache folder (``cache_dir``, default
    ``<workbench cache>/rag``), then (default corpus) the shipped asset, and otherwise embeds every
    passage with progress. ``use_cache=False`` neither reads nor writes the cache. ``time_budget_s``
    bounds the embedding (None: no budget; the app passes its request budget).
    """
    from backends.models import registry

    if kind not in INDEX_KINDS:
        raise InputError(f"Index kind must be one of {', '.join(INDEX_KINDS)}, got {kind!r}.")
    progress = progress or (lambda f, m: None)
    t0 = time.perf_counter()
    corpus = corpus_of(sources, files, texts)
    reg = registry()
    emb_name = reg.resolve(embedder, slot="embedder")
    progress(0.02, f"Loading the embedder {emb_name}")
    emb_model = reg.get(emb_name)
    emb_id = embedder_id(emb_model)
    key = index_key(corpus_hash(corpus.passages), emb_id)
    req = _Request(corpus, kind, emb_model, emb_id, emb_name, key, Path(cache_dir) if cache_dir else cache_root(),
                   use_cache, use_asset, time_budget_s, progress, t0)
    index = _load_or_build(req) if not use_cache else _memo.get_or_build((key, kind), lambda: _load_or_build(req))
    if "bm25" not in index.__dict__:  # two requests for one corpus build each index once (the memos)
        progress(0.98, "Building the BM25 index")
        index.bm25  # noqa: B018 (built now, with the progress bar, rather than at the first question)
    return index
