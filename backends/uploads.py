"""Reading user uploads (CSV, JSONL, plain text) safely: size, type, row count and encoding checked.

Uploaded files are read, never served back, and nothing a user typed becomes a path.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from backends.config import InputError, clean_text, limits

ALLOWED_SUFFIXES = (".csv", ".jsonl", ".txt")
LABELS = {"human": "human", "0": "human", "h": "human", "machine": "machine", "1": "machine", "m": "machine",
          "ai": "machine", "generated": "machine", "llm": "machine"}


@dataclass(frozen=True)
class TextTable:
    texts: list[str]
    labels: list[str] | None  # "human"/"machine" per row, or None when the file has no labels
    skipped: list[str]  # "row N: why" for rows left out


def check_upload(path: str | Path, suffixes: Sequence[str], *, max_bytes: int | None = None,
                 name: str | None = None) -> Path:
    """The path of an upload whose type is one of ``suffixes`` and whose size is within ``max_bytes``
    (default: the configured upload limit); otherwise an InputError that names the file (``name``, or
    nothing when there is one upload)."""
    p = Path(path)
    where = f"{name}: the file" if name else "The file"
    suffix = p.suffix.lower()
    if suffix not in suffixes:
        kinds = ", ".join(suffixes[:-1]) + f" or {suffixes[-1]}" if len(suffixes) > 1 else suffixes[0]
        raise InputError(f"{name + ': u' if name else 'U'}nsupported file type {suffix or '(none)'}: "
                         f"upload a {kinds} file.")
    limit = limits().max_upload_bytes if max_bytes is None else max_bytes
    size = p.stat().st_size
    if size > limit:
        raise InputError(f"{where} is {size / 1e6:.1f} MB; the limit is {limit / 1e6:.1f} MB.")
    return p


def decode_text(raw: bytes, name: str | None = None) -> str:
    """Bytes of an uploaded text file as a string (UTF-8, a BOM dropped), or an InputError that says which
    byte is not UTF-8."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        where = f"{name}: the file" if name else "The file"
        raise InputError(f"{where} is not UTF-8 text (byte {e.start} cannot be decoded). Save it as UTF-8.") from None


def read_upload(path: str | Path, suffixes: Sequence[str] = ALLOWED_SUFFIXES, *, max_bytes: int | None = None,
                name: str | None = None) -> tuple[str, str]:
    """(suffix, text) of an uploaded text file, checked by :func:`check_upload` and :func:`decode_text`.

    The one reader behind every upload (detector texts, RAG documents, framing corpora)."""
    p = check_upload(path, suffixes, max_bytes=max_bytes, name=name)
    return p.suffix.lower(), decode_text(p.read_bytes(), name)


def _label(value: object, row: int) -> str:
    key = str(value).strip().lower()
    if key not in LABELS:
        raise InputError(f"Row {row}: label {value!r} is not one of human/machine (or 0/1).")
    return LABELS[key]


Row = tuple[int, object, object]  # (row number, text, label or None)


def _jsonl_rows(content: str, text_column: str, label_column: str) -> list[Row]:
    rows = []
    for i, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise InputError(f"Row {i}: not valid JSON ({e.msg}).") from None
        if not isinstance(obj, dict) or text_column not in obj:
            raise InputError(f"Row {i}: expected an object with a {text_column!r} field.")
        rows.append((i, obj[text_column], obj.get(label_column)))
    return rows


def _csv_rows(content: str, text_column: str, label_column: str) -> list[Row]:
    rows = []
    try:
        reader = csv.DictReader(io.StringIO(content))
        header = reader.fieldnames or []
        if text_column not in header:
            raise InputError(f"The CSV has no {text_column!r} column (columns: {', '.join(header) or 'none'}).")
        for i, rec in enumerate(reader, start=2):  # row 1 is the header
            rows.append((i, rec.get(text_column), rec.get(label_column) if label_column in header else None))
    except csv.Error as e:
        raise InputError(f"The CSV cannot be parsed: {e}.") from None
    return rows


def read_text_table(path: str | Path, *, text_column: str = "text", label_column: str = "label") -> TextTable:
    """Texts (and optional labels) from an upload.

    CSV: a header row with a ``text`` column and optionally ``label``. JSONL: one object per line
    with ``text`` and optionally ``label``. TXT: one text per blank-line-separated paragraph.
    Empty texts are skipped and reported; a malformed row is an error naming the row.
    """
    suffix, content = read_upload(path)
    if suffix == ".txt":
        rows = [(i + 1, para, None) for i, para in enumerate(content.split("\n\n"))]
    elif suffix == ".jsonl":
        rows = _jsonl_rows(content, text_column, label_column)
    else:
        rows = _csv_rows(content, text_column, label_column)
    lim = limits()
    texts, labels, skipped = [], [], []
    has_labels = any(lab not in (None, "") for _, _, lab in rows)
    for i, text, lab in rows:
        if not isinstance(text, str):
            raise InputError(f"Row {i}: the text must be a string, got {type(text).__name__}.")
        text = clean_text(text).strip()  # JSONL may carry NUL or lone surrogates ("\ud800")
        if not text:
            skipped.append(f"row {i}: empty text")
            continue
        if len(text) > lim.max_text_chars:
            raise InputError(f"Row {i}: the text is {len(text):,} characters; the limit is {lim.max_text_chars:,}.")
        texts.append(text)
        if has_labels:
            if lab in (None, ""):
                raise InputError(f"Row {i}: label missing (label all rows or none).")
            labels.append(_label(lab, i))
    if not texts:
        raise InputError("The file holds no texts.")
    if len(texts) > lim.max_batch_texts:
        raise InputError(f"The file holds {len(texts)} texts; the limit is {lim.max_batch_texts} per upload.")
    return TextTable(texts, labels if has_labels else None, skipped)
