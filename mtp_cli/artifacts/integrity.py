"""What a manifest records about its folder's files (size and sha256), and checking them again."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from mtp_cli.artifacts.hashing import sha256_file


def describe_files(folder: Path, paths: list[Path]) -> list[dict[str, Any]]:
    """{"path" (relative to `folder`), "bytes", "sha256"} of each file."""
    return [{"path": p.relative_to(folder).as_posix(), "bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in paths]


def files_problem(folder: Path, entries: list[dict[str, Any]], hashes: bool = True) -> str | None:
    """What is wrong with `folder`'s files against their manifest entries (None: nothing). Sizes are
    checked first, for every file, so a truncated file is named without reading the others."""
    for entry in entries:
        path = folder / entry["path"]
        if not path.is_file():
            return f"{entry['path']} is missing"
        size = path.stat().st_size
        if size != entry["bytes"]:
            return f"{entry['path']} has {size:,} bytes, its manifest says {entry['bytes']:,}"
    if hashes:
        for entry in entries:
            if sha256_file(folder / entry["path"]) != entry["sha256"]:
                return f"{entry['path']} differs from its manifest's sha256"
    return None


def safetensors_header_problem(path: Path) -> str | None:
    """Whether `path` starts with a whole safetensors header whose tensors fit in the file."""
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            size = path.stat().st_size
            if length > size - 8:
                return f"{path.name}'s header is cut short"
            header = json.loads(f.read(length))
        ends = [info["data_offsets"][1] for name, info in header.items() if name != "__metadata__"]
    except (OSError, struct.error, ValueError, KeyError, TypeError, IndexError):
        return f"{path.name} has no readable safetensors header"
    if ends and max(ends) > size - 8 - length:
        return f"{path.name} is cut short: its tensors need {max(ends) + 8 + length:,} bytes, it has {size:,}"
    return None
