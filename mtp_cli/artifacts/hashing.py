"""Content hashes recorded in manifests."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

_CHUNK = 1 << 20


class HashingStopped(Exception):
    """`sha256_file` was told to stop before the end of the file."""


def sha256_file(path: str | Path, stop: threading.Event | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            if stop is not None and stop.is_set():
                raise HashingStopped(str(path))
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextmanager
def sha256_in_background(files: list[Path]) -> Iterator[Future]:
    """A future of `files`' manifest entries ({"path", "bytes", "sha256"} each), hashed on a second
    thread while the caller works: hashlib releases the GIL, so on two cores the hashing of large
    files costs little wall time. An error or Ctrl-C in the caller stops the hashing within a chunk."""
    stop = threading.Event()

    def hash_all() -> list[dict[str, Any]]:
        return [{"path": str(p), "bytes": p.stat().st_size, "sha256": sha256_file(p, stop)} for p in files]

    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(hash_all)
        try:
            yield future
        except BaseException:
            stop.set()
            raise
