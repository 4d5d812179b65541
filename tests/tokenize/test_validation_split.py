"""The validation split of a corpus with too few documents, an explicit --validation set, and the
warning whenever a split ends up empty."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from mtp_cli.cli import main
from mtp_cli.tokenize import TokenizeConfig, tokenize_corpus


def one_text(tmp_path, name="input.txt", lines=400) -> str:
    path = tmp_path / name
    path.write_text("".join(f"LINE {i}: To be, or not to be, that is the question.\n" for i in range(lines)))
    return str(path)


def stream(folder, split) -> np.ndarray:
    """A split's real tokens in stream order (the last row's padding cut off)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    info = manifest["splits"][split]
    rows = []
    for shard in sorted((folder / split).glob("*.arrow")):
        with pa.memory_map(str(shard)) as source:
            rows += pa.ipc.open_stream(source).read_all().column("input_ids").to_pylist()
    flat = np.array([t for row in rows for t in row])
    return flat[: len(flat) - (manifest["seq_len"] - info["last_row_tokens"])] if rows else flat


def test_a_one_file_corpus_is_split_by_position(tmp_path, capsys):
    source, out = one_text(tmp_path), tmp_path / "data"
    assert main(["tokenize", source, "--tokenizer", "bytes", "--seq-len", "64", "--val-fraction", "0.1", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["split_by"] == "position" and manifest["warnings"] == []
    train, validation = stream(out, "train"), stream(out, "validation")
    text = open(source, "rb").read()
    # The last 10% of the document's tokens (bytes here) are the validation split, each part ended by EOS.
    cut = len(text) - int(len(text) * 0.1)
    assert bytes(train[:-1].astype(np.uint8)) == text[:cut] and train[-1] == 256
    assert bytes(validation[:-1].astype(np.uint8)) == text[cut:] and validation[-1] == 256
    assert "by position" in capsys.readouterr().out


def test_many_documents_keep_the_document_split(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for i in range(60):
        (folder / f"m{i}.py").write_text(f"x = {i}\n" * 20)
    manifest = tokenize_corpus(TokenizeConfig(out=tmp_path / "data", sources=[str(folder)], tokenizer="bytes", seq_len=64, val_fraction=0.1, workers=1))
    assert manifest["split_by"] == "document"
    assert 0 < manifest["splits"]["validation"]["documents"] < 60 and manifest["warnings"] == []


def test_validation_sources_are_the_validation_split(tmp_path):
    train_text, held_out, out = one_text(tmp_path), one_text(tmp_path, "held.txt", 30), tmp_path / "data"
    assert main(["tokenize", train_text, "--validation", held_out, "--tokenizer", "bytes", "--seq-len", "64", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["split_by"] == "sources" and manifest["arguments"]["validation"] == [held_out]
    assert bytes(stream(out, "train")[:-1].astype(np.uint8)) == open(train_text, "rb").read()
    assert bytes(stream(out, "validation")[:-1].astype(np.uint8)) == open(held_out, "rb").read()
    assert [entry["path"] for entry in manifest["inputs"]] == [str(tmp_path / "input.txt"), str(tmp_path / "held.txt")]


def test_an_empty_split_is_warned_about_in_tokenize_and_train(tmp_path, capsys):
    records, out = tmp_path / "docs.jsonl", tmp_path / "data"
    records.write_text("".join(json.dumps({"text": f"def f{i}():\n    return {i}\n" * 30}) + "\n" for i in range(3)))
    assert main(["tokenize", str(records), "--tokenizer", "bytes", "--seq-len", "64", "--val-fraction", "0.01", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: the validation split is empty" in err and "--validation SOURCES" in err
    assert json.loads((out / "manifest.json").read_text())["splits"]["validation"]["tokens"] == 0
    run = ["train", str(out), "--out", str(tmp_path / "run"), "--set", "dim=32", "--set", "n_heads=2", "--steps", "1",
           "--batch-tokens", "128", "--micro-batch", "2"]
    assert main(run) == 0
    assert "warning: the data has no validation split" in capsys.readouterr().err
    assert main(["tokenize", str(records), "--tokenizer", "bytes", "--val-fraction", "0", "--out", str(tmp_path / "d0")]) == 0
    assert "--val-fraction is 0" in capsys.readouterr().err
