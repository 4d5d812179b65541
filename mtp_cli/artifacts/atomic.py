"""Atomic outputs: files written to a temporary name then renamed, folders built beside their target.

A reader never sees a half-written file or folder: either the old content, or the new one whole.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from mtp_cli.artifacts.disk_space import disk_full_as_error
from mtp_cli.artifacts.errors import MtpError
from mtp_cli.artifacts.folder_lock import LOCK_NAME
from mtp_cli.artifacts.names import MANIFEST_NAME



def fsync_path(path: str | Path) -> None:
    """Flush a file's or a folder's data to the disk (a folder's: the names it holds)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """Every file and folder under `folder`, then `folder` itself: all of it survives a power cut."""
    for root, _, files in os.walk(folder, topdown=False):
        for name in files:
            fsync_path(Path(root) / name)
        fsync_path(root)


def atomic_write_bytes(path: str | Path, data: bytes, durable: bool = False) -> None:
    """`durable`: also flush the folder after the rename, so the new name itself survives a power cut."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        with disk_full_as_error(path, len(data), "free space on that filesystem, then run the command again"):
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if durable:
            fsync_path(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str, durable: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def is_mtp_artifact(folder: Path) -> bool:
    """True when `folder` holds a manifest written by this tool."""
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("tool") == "mtp"


def check_output_folder(out: Path, overwrite: bool) -> None:
    """Refuse an output folder we must not replace. Called before any work starts."""
    if out.exists() and not out.is_dir():
        raise MtpError(f"--out {out} exists and is a file", "choose a folder path")
    if not out.exists() or not any(p.name != LOCK_NAME for p in out.iterdir()):  # empty but for a writer's lock
        return
    if not is_mtp_artifact(out):
        raise MtpError(
            f"--out {out} exists, is not empty and is not an mtp artifact",
            "choose another folder; mtp never deletes a folder it did not write",
        )
    if not overwrite:
        raise MtpError(f"--out {out} already holds an mtp artifact", "pass --overwrite to replace it")


PARTIAL_MARK = ".partial-"  # in the name of a folder being staged: `.NAME.partial-XXXXXXXX`
OLD_MARK = ".old-"  # a replaced folder on its way out: `.NAME.old-XXXXXXXX`


def remove_leftovers(folder: Path) -> list[Path]:
    """Remove what a killed writer left in `folder`: staged folders, replaced folders and temporary
    files (all hidden, none ever read). Call it only while holding the folder's lock."""
    removed = []
    for entry in folder.iterdir():
        name = entry.name
        if name.startswith(".") and (PARTIAL_MARK in name or OLD_MARK in name or ".tmp-" in name):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def _replace_folder(staging: Path, out: Path) -> None:
    if out.exists():
        if not any(out.iterdir()):
            out.rmdir()
        else:
            old = out.with_name(f".{out.name}{OLD_MARK}{uuid.uuid4().hex[:8]}")
            os.replace(out, old)
            os.replace(staging, out)
            shutil.rmtree(old, ignore_errors=True)
            return
    os.replace(staging, out)


def publish_folder(staging: Path, out: Path, durable: bool = False) -> None:
    """Rename a finished staged folder into place (replacing `out`); `durable`: flush it first, and
    the parent after, so that after a power cut `out` is either absent or whole."""
    if durable:
        fsync_tree(staging)
    _replace_folder(staging, out)
    if durable:
        fsync_path(out.parent)


@contextmanager
def staged_folder(out: str | Path, overwrite: bool = False, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside `out`; on success it replaces `out` in one rename.

    On any exception, Ctrl-C included, the temporary folder is removed and `out` is untouched.
    `durable`: every file and the folder are flushed to the disk before the rename, and the parent
    after it, so that after a power cut `out` is either absent or whole.
    """
    out = Path(out)
    check_output_folder(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}{PARTIAL_MARK}{uuid.uuid4().hex[:8]}")
    staging.mkdir()
    try:
        yield staging
        check_output_folder(out, overwrite)  # something may have appeared there meanwhile
        publish_folder(staging, out, durable)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
