"""`mtp report` through the command table: a table of what was written, exit code 2 for bad paths."""

from __future__ import annotations

import subprocess
import sys

from mtp_cli.cli import main


def test_report_command_lists_what_it_wrote(work, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", str(work.root), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in ("loss_per_head.png", "accepted_per_forward.png", "speedup.png", "pass_at_k.png", "summary.md"):
        assert name in printed and (out / name).exists()


def test_an_unrecognizable_path_is_refused_with_exit_code_2(tmp_path, capsys):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("nothing mtp wrote")
    assert main(["report", str(tmp_path / "notes"), "--out", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err
    assert "notes" in err and "nothing mtp report can read" in err and "training run folder" in err
    assert not (tmp_path / "report").exists()


def test_other_artifact_kinds_are_named_in_the_refusal(tokenized_bytes, tmp_path, capsys):
    assert main(["report", str(tokenized_bytes), "--out", str(tmp_path / "report")]) == 2
    assert "'tokenized' artifact" in capsys.readouterr().err


def test_the_cli_loads_neither_matplotlib_nor_torch():
    code = "import sys, mtp_cli.cli; sys.exit(sorted({'matplotlib', 'torch'} & set(sys.modules)) != [])"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
