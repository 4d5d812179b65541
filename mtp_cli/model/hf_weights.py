"""Checkpoint weights kept in a Hugging Face model's own safetensors files.

`mtp import` of a Hugging Face folder does not rewrite its weights: the checkpoint holds the source's
files themselves (hard links where the file system allows, else copies), and loading renames the
tensors and moves the query and key rows to mtp's rotary layout (`hf_names`). Its config says so:

    "weights": {"layout": "huggingface", "files": [{"path": "model.safetensors", "mtime_ns": ...}]}

A hard link shares its data with the source file. mtp never writes into a weight file (it writes new
files and renames them), but another tool may rewrite the source in place; the recorded mtime catches
that, and the manifest's sha256 then decides whether the bytes really changed (a copied checkpoint
folder has new mtimes and the same bytes).
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors import safe_open

from mtp_cli.artifacts import MtpError, sha256_file
from mtp_cli.artifacts.integrity import safetensors_header_problem
from mtp_cli.model.config import ModelConfig
from mtp_cli.model.hf_names import hf_name, rotary_heads, to_interleaved
from mtp_cli.model.transformer import stored_shapes

HF_LAYOUT = "huggingface"


def weights_layout(info: dict[str, Any]) -> dict[str, Any] | None:
    """The config's "weights" entry when the weights are in a Hugging Face layout, else None."""
    weights = info.get("weights")
    return weights if isinstance(weights, dict) and weights.get("layout") == HF_LAYOUT else None


def link_or_copy(source: Path, target: Path) -> None:
    """`target` becomes `source`'s data: a hard link, or a copy across file systems (the kernel's
    copy, a clone on file systems that have them)."""
    try:
        os.link(source, target)
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
            raise
        shutil.copyfile(source, target)


def layout_entry(folder: Path, names: list[str]) -> dict[str, Any]:
    """The config's "weights" entry for the files `names` already in `folder`."""
    return {"layout": HF_LAYOUT, "files": [{"path": n, "mtime_ns": (folder / n).stat().st_mtime_ns} for n in names]}


def files_problem(folder: Path, layout: dict[str, Any], manifest_files: list[dict[str, Any]]) -> str | None:
    """What is wrong with the linked files (None: nothing): a missing or cut file, or one rewritten
    since the import (its mtime moved and its sha256 no longer matches the manifest)."""
    hashes = {e["path"]: e.get("sha256") for e in manifest_files}
    for entry in layout["files"]:
        path = folder / entry["path"]
        if not path.is_file():
            return f"{entry['path']} is missing"
        problem = safetensors_header_problem(path)
        if problem:
            return problem
        if path.stat().st_mtime_ns != entry["mtime_ns"]:
            recorded = hashes.get(entry["path"])
            if recorded and sha256_file(path) != recorded:
                return f"{entry['path']} was rewritten after the import (it shares its data with the imported model's file)"
    return None


def iter_hf_weights(folder: Path, config: ModelConfig, layout: dict[str, Any]) -> Iterator[tuple[str, torch.Tensor]]:
    """The weights one at a time, under mtp's names and rotary layout, read from the Hugging Face files."""
    ours = {hf_name(name): name for name in stored_shapes(config)}
    where: dict[str, Path] = {}
    for entry in layout["files"]:
        with safe_open(str(folder / entry["path"]), "pt") as f:
            where.update({theirs: folder / entry["path"] for theirs in f.keys() if theirs in ours})
    missing = [theirs for theirs in ours if theirs not in where]
    if missing:
        raise MtpError(f"{folder} has no tensor {missing[0]} (for {ours[missing[0]]})", "the checkpoint is damaged: import the model again")
    for path in dict.fromkeys(where.values()):
        with safe_open(str(path), "pt") as f:
            for theirs in (t for t in f.keys() if where.get(t) == path):
                name, tensor = ours[theirs], f.get_tensor(theirs)
                heads = rotary_heads(name, config)
                yield name, tensor if heads is None else to_interleaved(tensor, heads).contiguous()
