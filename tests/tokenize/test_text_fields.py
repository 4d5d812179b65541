"""Which field of a record source was read, how much it gave, and the warning when it reads like prose."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from mtp_cli.cli import main

PROBLEM = "Write a function to find the shared elements from the given two lists."
SOLUTION = "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n"


def records(n: int = 20) -> list[dict]:
    return [{"text": f"{PROBLEM} Case {i}.", "code": SOLUTION.replace("a, b", f"a{i}, b{i}")} for i in range(n)]


def tokenize(source, out, *more: str) -> int:
    return main(["tokenize", str(source), "--tokenizer", "bytes", "--seq-len", "64", "--val-fraction", "0.3", "--out", str(out), *more])


def test_a_jsonl_prose_field_is_named_counted_and_warned_about(tmp_path, capsys):
    source = tmp_path / "mbpp-like.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records()))
    assert tokenize(source, tmp_path / "a") == 0
    err = capsys.readouterr().err
    text_bytes = sum(len(r["text"].encode()) for r in records())
    (read,) = json.loads((tmp_path / "a" / "manifest.json").read_text())["text_fields"]
    assert read["field"] == "text" and read["documents"] == 20 and read["bytes"] == text_bytes
    assert f"read field 'text' of {source}: 20 documents" in err
    assert "warning: field 'text'" in err and "reads like prose" in err and "--text-field" in err


def test_an_explicit_field_is_read_without_a_warning(tmp_path, capsys):
    source = tmp_path / "mbpp-like.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records()))
    assert tokenize(source, tmp_path / "code", "--text-field", "code") == 0
    err = capsys.readouterr().err
    assert "read field 'code'" in err and "warning" not in err
    # Chosen explicitly, even a prose field is what the user asked for.
    assert tokenize(source, tmp_path / "text", "--text-field", "text") == 0
    assert "reads like prose" not in capsys.readouterr().err


def test_parquet_columns_are_reported_too(tmp_path, capsys):
    source = tmp_path / "rows.parquet"
    rows = records()
    pq.write_table(pa.table({"content": [r["code"] for r in rows], "title": [r["text"] for r in rows]}), source)
    assert tokenize(source, tmp_path / "p") == 0
    err = capsys.readouterr().err
    code_bytes = sum(len(r["code"].encode()) for r in rows)
    assert f"read field 'content' of {source}: 20 documents" in err and "warning" not in err
    (read,) = json.loads((tmp_path / "p" / "manifest.json").read_text())["text_fields"]
    assert read["bytes"] == code_bytes and read["code_symbol_share"] > 0.03


def test_plain_files_report_no_field(tmp_path):
    (tmp_path / "m.py").write_text(SOLUTION)
    assert tokenize(tmp_path / "m.py", tmp_path / "f") == 0
    assert json.loads((tmp_path / "f" / "manifest.json").read_text())["text_fields"] == []
