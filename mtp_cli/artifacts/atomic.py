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

from mtp_cli.artifacts.errors import MtpError
from mtp_cli.artifacts.names import MANIFEST_NAME



def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


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
    if not out.exists() or not any(out.iterdir()):
        return
    if not is_mtp_artifact(out):
        raise MtpError(
            f"--out {out} exists, is not empty and is not an mtp artifact",
            "choose another folder; mtp never deletes a folder it did not write",
        )
    if not overwrite:
        raise MtpError(f"--out {out} already holds an mtp artifact", "pass --overwrite to replace it")


def _replace_folder(staging: Path, out: Path) -> None:
    if out.exists():
        if not any(out.iterdir()):
            out.rmdir()
        else:
            old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(out, old)
            os.replace(staging, out)
            shutil.rmtree(old, ignore_errors=True)
            return
    os.replace(staging, out)


@contextmanager
def staged_folder(out: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside `out`; on success it replaces `out` in one rename.

    On any exception, Ctrl-C included, the temporary folder is removed and `out` is untouched.
    """
    out = Path(out)
    check_output_folder(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.partial-{uuid.uuid4().hex[:8]}")
    staging.mkdir()
    try:
        yield staging
        check_output_folder(out, overwrite)  # something may have appeared there meanwhile
        _replace_folder(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
