import json

import pytest

from backends.config import InputError
from backends.uploads import read_text_table


def write(tmp_path, name, content, mode="w"):
    p = tmp_path / name
    (p.write_bytes if mode == "wb" else p.write_text)(content)
    return p


def test_csv_with_labels(tmp_path):
    p = write(tmp_path, "t.csv", 'text,label\n"Hello, world",human\nSecond text,1\n,machine\n')
    t = read_text_table(p)
    assert t.texts == ["Hello, world", "Second text"] and t.labels == ["human", "machine"]
    assert t.skipped == ["row 4: empty text"]


def test_jsonl_and_txt(tmp_path):
    p = write(tmp_path, "t.jsonl", json.dumps({"text": "a"}) + "\n\n" + json.dumps({"text": "b"}) + "\n")
    assert read_text_table(p).texts == ["a", "b"] and read_text_table(p).labels is None
    p = write(tmp_path, "t.txt", "first para\nline two\n\nsecond para\n")
    assert read_text_table(p).texts == ["first para\nline two", "second para"]


@pytest.mark.parametrize("name,content,message", [
    ("t.exe", "x", "Unsupported file type"),
    ("t.csv", "body,label\nx,human\n", "no 'text' column"),
    ("t.csv", "text,label\nx,maybe\n", "Row 2: label 'maybe'"),
    ("t.csv", "text,label\nx,human\ny,\n", "Row 3: label missing"),
    ("t.jsonl", '{"text": "a"}\n{broken\n', "Row 2: not valid JSON"),
    ("t.jsonl", '{"text": 5}\n', "Row 1: the text must be a string"),
    ("t.jsonl", '["a"]\n', "Row 1: expected an object"),
    ("t.txt", "\n\n  \n\n", "no texts"),
])
def test_malformed_uploads_name_the_row_and_reason(tmp_path, name, content, message):
    with pytest.raises(InputError, match=message):
        read_text_table(write(tmp_path, name, content))


def test_binary_and_oversized_files(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="not UTF-8"):
        read_text_table(write(tmp_path, "t.csv", b"text\n\xff\xfe\x00", mode="wb"))
    monkeypatch.setenv("WORKBENCH_MAX_UPLOAD_BYTES", "10")
    with pytest.raises(InputError, match="limit is"):
        read_text_table(write(tmp_path, "big.txt", "x" * 100))
    monkeypatch.delenv("WORKBENCH_MAX_UPLOAD_BYTES")
    monkeypatch.setenv("WORKBENCH_MAX_BATCH_TEXTS", "2")
    with pytest.raises(InputError, match="holds 3 texts; the limit is 2"):
        read_text_table(write(tmp_path, "many.txt", "a\n\nb\n\nc"))
