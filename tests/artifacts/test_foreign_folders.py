"""A folder without manifest.json is told apart: empty, cut short by mtp, another tool's model, foreign."""

from __future__ import annotations

import json

import pytest

from mtp_cli.artifacts import MtpError, read_manifest
from mtp_cli.cli import main


def message(folder, kind=None) -> tuple[str, str]:
    with pytest.raises(MtpError) as caught:
        read_manifest(folder, kind)
    return caught.value.message, caught.value.hint or ""


def test_a_foreign_folder_is_named_and_gets_the_command_that_makes_one(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"\xff\xd8")
    text, hint = message(folder, "tokenized")
    assert "is not an mtp folder" in text and "half-written" not in text
    assert hint == "make one with: mtp tokenize SOURCES --out DATA"
    assert "mtp train DATA --out RUN" in message(folder, "checkpoint")[1]


def test_a_folder_mtp_was_writing_is_half_written(tmp_path):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    text, hint = message(tmp_path / "run", "run")
    assert "half-written" in text and "mtp train" in hint


@pytest.mark.parametrize("layout", ["huggingface", "release"])
def test_model_folders_from_elsewhere_point_at_mtp_import(layout, tmp_path, capsys):
    folder = tmp_path / layout
    folder.mkdir()
    if layout == "huggingface":
        (folder / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 64}))
        (folder / "model.safetensors").write_bytes(b"x")
        (folder / "tokenizer.json").write_text("{}")
    else:
        (folder / "params.json").write_text(json.dumps({"dim": 64, "n_future_tokens": 4}))
        (folder / "consolidated.00.pth").write_bytes(b"x")
    assert main(["generate", str(folder), "--prompt", "x", "--out", str(tmp_path / "s.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "not an mtp checkpoint" in err and f"mtp import {folder} --out CKPT" in err.replace("\n", "")
    assert "half-written" not in err
