"""The artifact convention: manifests written last and atomically, checked on read."""

from __future__ import annotations

import json

import pytest

from mtp_cli import __version__
from mtp_cli.artifacts import MtpError, build_manifest, read_manifest, staged_folder, write_manifest


def test_manifest_records_identity(tmp_path):
    manifest = build_manifest("eval", arguments={"out": tmp_path, "k": (1, 10)}, inputs=[{"path": "x", "sha256": "0" * 64}], n=3)
    write_manifest(tmp_path, manifest)
    read = read_manifest(tmp_path, "eval")
    assert read["tool_version"] == __version__ and read["format_version"] == 1 and read["n"] == 3
    assert read["arguments"] == {"out": str(tmp_path), "k": [1, 10]} and read["created"]
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temporary file left


def test_read_refuses_wrong_kind_newer_version_and_junk(tmp_path):
    write_manifest(tmp_path, build_manifest("eval", {}, []))
    with pytest.raises(MtpError, match="holds a 'eval' artifact, not 'run'"):
        read_manifest(tmp_path, "run")
    data = json.loads((tmp_path / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps(data | {"format_version": 99}))
    with pytest.raises(MtpError, match="does not know"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{truncated")
    with pytest.raises(MtpError, match="not valid JSON"):
        read_manifest(tmp_path)
    with pytest.raises(MtpError, match="does not exist"):
        read_manifest(tmp_path / "missing")


def test_staged_folder_replaces_only_on_success(tmp_path):
    out = tmp_path / "out"
    with staged_folder(out) as stage:
        (stage / "a").write_text("1")
        write_manifest(stage, build_manifest("eval", {}, []))
    assert (out / "a").read_text() == "1"
    with pytest.raises(RuntimeError):
        with staged_folder(out, overwrite=True) as stage:
            (stage / "a").write_text("2")
            raise RuntimeError("crash halfway")
    assert (out / "a").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
