"""The command table, `mtp info`, and `python -m mtp_cli`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from mtp_cli.cli import main


def test_info_shows_a_manifest_table(tokenized_bytes, capsys):
    assert main(["info", str(tokenized_bytes)]) == 0
    out = capsys.readouterr().out
    assert "tokenized" in out and "splits.train.rows" in out and "tokenizer.eos_id" in out


def test_info_json_is_the_manifest(tokenized_bytes, capsys):
    assert main(["info", str(tokenized_bytes), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads((tokenized_bytes / "manifest.json").read_text())


def test_info_refuses_foreign_and_half_written_folders(tmp_path, capsys):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "train").mkdir()
    assert main(["info", str(tmp_path / "half")]) == 2
    assert "half-written" in capsys.readouterr().err
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "manifest.json").write_text('{"name": "something else"}')
    assert main(["info", str(tmp_path / "foreign")]) == 2
    assert "not an mtp manifest" in capsys.readouterr().err


def test_python_dash_m_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "mtp_cli", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "tokenize" in result.stdout and "info" in result.stdout


def test_tables_are_not_cut_at_80_columns_when_output_is_not_a_terminal():
    code = "from mtp_cli.cli.console import console, err_console; print(console.width, err_console.width)"
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.stdout.split() == ["240", "240"]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**env, "COLUMNS": "100"}, timeout=60)
    assert result.stdout.split() == ["100", "100"]
