"""Hashes for manifests: in the background, and stopped when the caller fails."""

from __future__ import annotations

import threading

import pytest

from mtp_cli.artifacts import sha256_file, sha256_in_background
from mtp_cli.artifacts.hashing import HashingStopped


def test_background_entries_match_the_direct_hash(tmp_path):
    files = []
    for i in range(3):
        path = tmp_path / f"f{i}"
        path.write_bytes(bytes(range(256)) * (4096 * (i + 1)))
        files.append(path)
    with sha256_in_background(files) as hashes:
        pass
    assert hashes.result() == [{"path": str(p), "bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in files]


def test_a_stop_ends_the_hash_instead_of_a_wrong_digest(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(b"x" * (3 << 20))
    stop = threading.Event()
    stop.set()
    with pytest.raises(HashingStopped):
        sha256_file(path, stop)


def test_an_error_in_the_caller_stops_the_hashing(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(b"x" * (8 << 20))
    with pytest.raises(RuntimeError):
        with sha256_in_background([path]) as hashes:
            raise RuntimeError("the conversion failed")
    assert hashes.done()  # the pool was waited for: no thread outlives the call
