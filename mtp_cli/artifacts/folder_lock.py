"""One writer per output folder: an advisory `flock` on a lock file inside it.

The kernel drops a flock when its holder dies, SIGKILL included, so a lock is never left stale; the
file stays behind (removing it would let a late opener lock an unlinked file) and records the
holder's pid and command for the refusal message.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from mtp_cli.artifacts.errors import MtpError
from mtp_cli.artifacts.names import LOCK_NAME


def _holder(fd: int) -> tuple[str, str]:
    """(command, pid) recorded by the process holding the lock, as far as it has written them."""
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 4096).decode("utf-8", "replace").strip()
    pid, _, command = text.partition(" ")
    return (command or "another mtp command"), (pid or "unknown")


@contextmanager
def acquire_folder_lock(folder: Path, command: str) -> Iterator[Path]:
    """Hold the lock on `folder` (created if missing) while the block runs; refuse when another
    process holds it. A folder this call created and that holds only the lock file is removed again."""
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder, pid = _holder(fd)
        os.close(fd)
        raise MtpError(f"{folder} is in use by {holder} (pid {pid}); wait for it or use another --out") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {command}\n".encode(), 0)
        yield path
    finally:
        if created and [p.name for p in folder.iterdir()] == [LOCK_NAME]:
            path.unlink(missing_ok=True)
            folder.rmdir()
        os.close(fd)  # closing the last descriptor releases the flock
