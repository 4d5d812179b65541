"""One writer per output folder: an flock on `FOLDER/.lock`, which names its holder.

The kernel drops the lock when its holder exits, however it exits (SIGKILL included), so a crashed
run never leaves a folder locked. The file is removed on release; a taker that opened a file just
removed checks it still is the one at the path, and tries again if not.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from mtp_cli.artifacts.errors import MtpError

LOCK_NAME = ".lock"


def _holder(fd: int) -> str:
    """'mtp eval (pid 123)', from what the holder wrote into the lock file."""
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"{info['command']} (pid {info['pid']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (pid unknown: it is starting)"


def _take(path: Path, folder: Path) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise MtpError(f"{folder} is in use by {holder}; wait for it or use another --out") from None
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the previous holder removed this file as we opened it: take the new one


@contextmanager
def acquire_folder_lock(folder: Path, command: str) -> Iterator[None]:
    """Hold `folder` for `command` (e.g. "mtp eval") until the block ends; a second holder is refused
    with MtpError naming this one's pid. Creates the folder if needed, and removes it again if it is
    still empty at the end."""
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = _take(path, folder)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"command": command, "pid": os.getpid()}).encode(), 0)
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)
        if created:
            try:
                folder.rmdir()  # only when empty: a refused or failed first run leaves nothing
            except OSError:
                pass
