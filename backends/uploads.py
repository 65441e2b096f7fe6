"""Reading user uploads (CSV, JSONL, plain text) safely: size, type, row count and encoding checked.

Uploaded files are read, never served back, and nothing a user typed becomes a path.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from backends.config import InputError, clean_text, limits

ALLOWED_SUFFIXES = (".csv", ".jsonl", ".txt")
LABELS = {"human": "human", "0": "human", "h": "human", "machine": "machine", "1": "machine", "m": "machine",
          "ai": "machine", "generated": "machine", "llm": "machine"}


@dataclass(frozen=True)
class TextTable:
    texts: list[str]
    labels: list[str] | None  # "human"/"machine" per row, or None when the file has no labels
    skipped: list[str]  # "row N: why" for rows left out


def _read_bytes(path: str | Path) -> tuple[str, str]:
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise InputError(f"Unsupported file type {suffix or '(none)'}: upload a .csv, .jsonl or .txt file.")
    lim = limits()
    size = p.stat().st_size
    if size > lim.max_upload_bytes:
        raise InputError(f"The file is {size / 1e6:.1f} MB; the limit is {lim.max_upload_bytes / 1e6:.1f} MB.")
    raw = p.read_bytes()
    try:
        return suffix, raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"The file is not UTF-8 text (byte {e.start} cannot be decoded). Save it as UTF-8.") from None


def _label(value: object, row: int) -> str:
    key = str(value).strip().lower()
    if key not in LABELS:
        raise InputError(f"Row {row}: label {value!r} is not one of human/machine (or 0/1).")
    return LABELS[key]


def read_text_table(path: str | Path, *, text_column: str = "text", label_column: str = "label") -> TextTable:
    """Texts (and optional labels) from an upload.

    CSV: a header row with a ``text`` column and optionally ``label``. JSONL: one object per line
    with ``text`` and optionally ``label``. TXT: one text per blank-line-separated paragraph.
    Empty texts are skipped and reported; a malformed row is an error naming the row.
    """
    suffix, content = _read_bytes(path)
    rows: list[tuple[int, str, object]] = []  # (row number, text, label or None)
    if suffix == ".txt":
        rows = [(i + 1, para, None) for i, para in enumerate(content.split("\n\n"))]
    elif suffix == ".jsonl":
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
    else:
        try:
            reader = csv.DictReader(io.StringIO(content))
            header = reader.fieldnames or []
            if text_column not in header:
                raise InputError(f"The CSV has no {text_column!r} column (columns: {', '.join(header) or 'none'}).")
            for i, rec in enumerate(reader, start=2):  # row 1 is the header
                rows.append((i, rec.get(text_column), rec.get(label_column) if label_column in header else None))
        except csv.Error as e:
            raise InputError(f"The CSV cannot be parsed: {e}.") from None
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
