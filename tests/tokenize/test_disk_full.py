"""`mtp tokenize` on a full disk: one line naming the path and the bytes needed, nothing half-written,
the previous output kept."""

from __future__ import annotations

import json

from mtp_cli.cli import main
from mtp_cli.tokenize.sources import stdlib_root


def test_a_full_disk_is_one_line_and_keeps_the_previous_output(small_tmpfs, capsys):
    disk = small_tmpfs("160k")
    out = disk / "data"
    source = stdlib_root() / "json"  # 48 kB of Python, 2 bytes a token, beside the first output
    common = ["tokenize", str(source / "__init__.py"), "--tokenizer", "bytes", "--seq-len", "64", "--out", str(out), "--workers", "1"]
    assert main(common) == 0
    before = json.loads((out / "manifest.json").read_text())
    assert main(["tokenize", str(source), "--tokenizer", "bytes", "--seq-len", "64", "--out", str(out), "--workers", "1", "--overwrite"]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith(("error:", "hint:"))]
    assert lines[0].startswith(f"error: disk full: writing {out} needs up to ") and lines[0].endswith("were free")
    assert lines[1].startswith("hint: free space on that filesystem")
    assert sorted(p.name for p in disk.iterdir()) == ["data"]  # no staged folder left
    assert json.loads((out / "manifest.json").read_text()) == before
