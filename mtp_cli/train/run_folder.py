"""The run folder: refusing the wrong one at start, and its `manifest.json` (kind "run").

The manifest is written when the run starts and rewritten atomically at every checkpoint and at the
end, so it always says how far the run got (`status`: running, completed, interrupted, failed).
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from mtp_cli.artifacts import (
    MANIFEST_NAME,
    MtpError,
    acquire_folder_lock,
    build_manifest,
    check_output_folder,
    is_mtp_artifact,
    read_manifest,
    write_manifest,
)
from mtp_cli.artifacts.atomic import remove_leftovers
from mtp_cli.train.checkpointing import CHECKPOINTS_NAME
from mtp_cli.train.config import TrainConfig, merge_for_resume
from mtp_cli.train.distributed import World


def run_folder_lock(out: Path) -> AbstractContextManager:
    """The one-writer lock on --out, held by the process that writes it (rank 0 under torchrun)."""
    return acquire_folder_lock(out, "mtp train") if World.from_env().is_main else contextlib.nullcontext()


def clean_leftovers(out: Path) -> None:
    """Remove staged checkpoint folders and temporary files a killed run left (under the lock)."""
    for folder in (out, out / CHECKPOINTS_NAME):
        if folder.is_dir():
            remove_leftovers(folder)


def holds_run(out: Path) -> bool:
    """What `--resume auto` asks: does --out hold a run to continue (else a new one starts there)?"""
    return (Path(out) / MANIFEST_NAME).is_file()


def stored_run(out: Path) -> dict[str, Any]:
    """The manifest of a run to resume; refuses anything else."""
    if not (out / MANIFEST_NAME).exists():
        raise MtpError(f"--resume: {out} holds no run", "drop --resume to start a new run there")
    return read_manifest(out, "run")


def config_for_resume(out: Path, given: dict[str, Any]) -> TrainConfig:
    """The stored run's config, with the options given now (refused where they would change the run)."""
    return merge_for_resume(stored_run(out)["arguments"], given)


def prepare_run_folder(config: TrainConfig, resume: bool) -> dict[str, Any] | None:
    """Check the output folder (created later, once every check has passed); returns the stored
    manifest when resuming."""
    out = config.out
    if resume:
        manifest = stored_run(out)
        merge_for_resume(manifest["arguments"], config.to_dict())  # refuses a differing config
        return manifest
    if out.exists() and is_mtp_artifact(out):
        raise MtpError(f"--out {out} already holds an mtp run", "pass --resume to continue it, or choose another --out")
    check_output_folder(out, overwrite=False)
    return None


def write_run_manifest(config: TrainConfig, inputs: list[dict[str, Any]], **fields: Any) -> None:
    config.out.mkdir(parents=True, exist_ok=True)
    write_manifest(config.out, build_manifest("run", config.to_dict(), inputs, **fields))
