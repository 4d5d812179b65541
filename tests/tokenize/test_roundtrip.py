"""Decoding every row of both splits, split at EOS, gives back exactly the original documents."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mtp_cli.tokenize import TokenizeConfig, TokenizedData, tokenize_corpus
from mtp_cli.tokenize.corpus import is_validation
from mtp_cli.tokenize.vocab import decode_documents


def split_stream(folder: Path, split: str) -> np.ndarray:
    """All real tokens of a split, read with plain pyarrow (no mtp code)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    info = manifest["splits"][split]
    rows = []
    for shard in info["shards"]:
        table = pa.ipc.open_stream(pa.memory_map(str(folder / split / shard["file"]))).read_all()
        rows.extend(table.column("input_ids").to_pylist())
    assert len(rows) == info["rows"]
    stream = np.array(rows, dtype=np.int64).reshape(-1)
    real = (info["rows"] - 1) * manifest["seq_len"] + info["last_row_tokens"] if rows else 0
    return stream[:real]


def decoded(folder: Path, split: str) -> list[str]:
    return list(decode_documents(TokenizedData.open(folder).tokenizer, split_stream(folder, split)))


def expected_file_documents(folder: Path, corpus_dirs: list[str], seed: int, fraction: float) -> dict[str, list[str]]:
    """The corpus files, read independently, in the order files.jsonl lists them, split by key."""
    roots = [Path(d) for d in corpus_dirs]
    out: dict[str, list[str]] = {"train": [], "validation": []}
    for line in (folder / "files.jsonl").read_text().splitlines():
        entry = json.loads(line)
        text = (roots[entry["source"]] / entry["path"]).read_bytes().decode("utf-8", errors="replace")
        if text:
            out["validation" if is_validation(entry["path"], seed, fraction) else "train"].append(text)
    return out


@pytest.mark.parametrize("fixture", ["tokenized_bytes", "tokenized_bpe"])
def test_round_trip_on_real_code(fixture, request, corpus_dirs):
    folder = request.getfixturevalue(fixture)
    expected = expected_file_documents(folder, corpus_dirs, seed=0, fraction=0.1)
    assert len(expected["train"]) > 30 and len(expected["validation"]) >= 1
    for split in ("train", "validation"):
        assert decoded(folder, split) == expected[split]


def test_manifest_counts_match_shards(tokenized_bpe):
    manifest = json.loads((tokenized_bpe / "manifest.json").read_text())
    assert manifest["kind"] == "tokenized" and manifest["tool"] == "mtp"
    assert manifest["tokenizer"]["vocab_size"] == 512 and manifest["tokenizer"]["eos_id"] == 0
    assert manifest["tokenizer"]["pad_id"] == 1
    for split, info in manifest["splits"].items():
        stream = split_stream(tokenized_bpe, split)
        assert len(stream) == info["tokens"]
        assert int((stream == 0).sum()) == info["documents"]  # one EOS per document
        assert info["rows"] == -(-info["tokens"] // manifest["seq_len"])
        assert sum(s["rows"] for s in info["shards"]) == info["rows"]
    assert len(manifest["inputs"]) == 3 and all(len(s["sha256"]) == 64 for s in manifest["inputs"])


def test_shards_load_with_datasets_and_pyarrow(tokenized_bytes):
    for split in ("train", "validation"):
        ds = datasets.load_from_disk(str(tokenized_bytes / split))
        info = json.loads((tokenized_bytes / "manifest.json").read_text())["splits"][split]
        assert ds.num_rows == info["rows"] and ds.column_names == ["input_ids"]
        first = ds[0]["input_ids"]
        assert len(first) == 256
        table = pa.ipc.open_stream(pa.memory_map(str(tokenized_bytes / split / info["shards"][0]["file"]))).read_all()
        assert table.column("input_ids")[0].as_py() == first


def test_reader_windows_continue_into_the_next_row(tokenized_bytes):
    data = TokenizedData.open(tokenized_bytes, verify=True)
    train = data.split("train")
    stream = split_stream(tokenized_bytes, "train")
    for index in (0, 1, len(train) // 2, len(train) - 2):
        window, real = train.window(index, 4)
        assert real == 256 + 4
        assert window.tolist() == stream[index * 256 : index * 256 + 260].tolist()
    last, real = train.window(len(train) - 1, 4)
    assert real == len(stream) - (len(train) - 1) * 256
    assert last[:real].tolist() == stream[(len(train) - 1) * 256 :].tolist()


def write_record_sources(root: Path) -> tuple[list[str], list[str]]:
    """The same documents as .txt, .jsonl, .jsonl.gz (field 'content'), parquet and a datasets folder."""
    docs = [
        "def add(a, b):\n    return a + b\n",
        "print('héllo wörld ✓')\n",
        "x = '<|endoftext|> is text here, not a separator'\n",
        "\t\n  whitespace  \n\n",
        "class A:\n    pass\n" * 50,
    ]
    (root / "one.txt").write_text(docs[0])
    (root / "docs.jsonl").write_text("".join(json.dumps({"text": d, "id": i}) + "\n" for i, d in enumerate(docs)))
    with gzip.open(root / "docs.jsonl.gz", "wt") as f:
        f.write("".join(json.dumps({"content": d}) + "\n" for d in docs))
    pq.write_table(pa.table({"text": docs}), root / "docs.parquet")
    datasets.Dataset.from_dict({"content": docs}).save_to_disk(str(root / "saved"))
    sources = [str(root / n) for n in ("one.txt", "docs.jsonl", "docs.jsonl.gz", "docs.parquet", "saved")]
    return sources, [docs[0]] + docs * 4


@pytest.mark.parametrize("tokenizer", ["bytes", "bpe"])
def test_round_trip_of_every_source_format(tmp_path, tokenizer):
    sources, expected = write_record_sources(tmp_path)
    out = tmp_path / "out"
    vocab = 300 if tokenizer == "bpe" else None
    manifest = tokenize_corpus(
        TokenizeConfig(out=out, sources=sources, tokenizer=tokenizer, vocab_size=vocab, seq_len=16, val_fraction=0.0, workers=1)
    )
    assert decoded(out, "train") == expected
    assert manifest["splits"]["validation"]["documents"] == 0
    assert datasets.load_from_disk(str(out / "validation")).num_rows == 0
    assert [s["kind"] for s in manifest["inputs"]] == ["files", "jsonl", "jsonl", "parquet", "datasets"]


def test_many_small_shards(tmp_path, corpus_dirs):
    out = tmp_path / "out"
    manifest = tokenize_corpus(
        TokenizeConfig(out=out, sources=corpus_dirs[:1], tokenizer="bytes", seq_len=64, shard_tokens=64 * 100, workers=1)
    )
    shards = manifest["splits"]["train"]["shards"]
    assert len(shards) > 3 and all(s["rows"] == 100 for s in shards[:-1])
    assert datasets.load_from_disk(str(out / "train")).num_rows == manifest["splits"]["train"]["rows"]
    assert [p.name for p in sorted((out / "train").glob("*.arrow"))] == [s["file"] for s in shards]


def test_bpe_without_vocab_size_uses_the_shipped_code_tokenizer(tmp_path, corpus_dirs):
    from mtp_cli.tokenize.vocab import shipped_tokenizer_path

    shipped = shipped_tokenizer_path()
    assert shipped.is_file()
    out = tmp_path / "out"
    manifest = tokenize_corpus(TokenizeConfig(out=out, sources=corpus_dirs[:1], seq_len=64, val_fraction=0.0, workers=1))
    assert manifest["tokenizer"]["vocab_size"] == 32768 and manifest["tokenizer"]["origin"] == "shipped code-bpe-32k"
    assert (out / "tokenizer.json").read_bytes() == shipped.read_bytes()
    expected = expected_file_documents(out, corpus_dirs[:1], seed=0, fraction=0.0)
    assert decoded(out, "train") == expected["train"]
    # code compresses well with a code BPE: more than 3 bytes per token
    assert manifest["splits"]["train"]["document_bytes"] / manifest["splits"]["train"]["tokens"] > 3.0
