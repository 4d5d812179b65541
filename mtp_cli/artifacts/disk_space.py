"""A full disk as one clear line: which path, how many bytes were needed, how many were free.

Writers raise OSError(ENOSPC) for a full disk, but torch.save and safetensors wrap it in errors of
their own (torch's says only "unexpected pos"), so a failed write is also taken as a full disk when
the filesystem it wrote to has (almost) nothing left.
"""

from __future__ import annotations

import errno
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from mtp_cli.artifacts.errors import MtpError

NEARLY_FULL = 1 << 20  # bytes: a filesystem with less free space than this failed a write for lack of room
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class DiskFull(MtpError):
    pass


def free_bytes(path: Path) -> int:
    """Free bytes on the filesystem holding `path` (or its nearest existing parent)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def disk_full_error(path: Path, needed: int, free: int, hint: str, bound: str = "about") -> DiskFull:
    """`bound`: how `needed` was estimated ("about", or "up to" for an upper bound); `free`: the free
    bytes before writing started."""
    return DiskFull(f"disk full: writing {path} needs {bound} {needed:,} bytes, {free:,} were free", hint)


def is_disk_full(error: BaseException, path: Path) -> bool:
    if isinstance(error, OSError) and error.errno in _FULL_ERRNOS:
        return True
    text = str(error)
    if "No space left on device" in text or "os error 28" in text or "Disk quota exceeded" in text:
        return True
    try:
        return free_bytes(path) < NEARLY_FULL
    except OSError:
        return False


def check_free_space(path: Path, needed: int, hint: str) -> None:
    """Refuse before writing anything when `needed` bytes do not fit."""
    free = free_bytes(path)
    if free < needed:
        raise disk_full_error(path, needed, free, hint)


@contextmanager
def disk_full_as_error(path: Path, needed: int, hint: str, bound: str = "about") -> Iterator[None]:
    """Turn a write that failed for lack of room under `path` into DiskFull. Wrap the writes inside a
    staged folder, so the check sees the filesystem before the partial files are removed."""
    free = free_bytes(path)
    try:
        yield
    except MtpError:  # a user's error of its own (DiskFull included) stays as it is
        raise
    except Exception as e:
        if is_disk_full(e, path):
            raise disk_full_error(path, needed, free, hint, bound) from None
        raise
