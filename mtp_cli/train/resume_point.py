"""Where `--resume` starts: the newest checkpoint whose files are whole, skipping damaged ones.

A checkpoint is complete when its manifest reads, every file it lists has the recorded size and
sha256, and its weights are finite. A damaged newer checkpoint (truncated, corrupted, poisoned with
NaN, or cut short by a power cut) is named in one line, moved aside to `damaged-step-NNNNNN` so that
no later save or pruning mistakes it for a good one, and the run resumes from the newest complete
checkpoint; `latest` is moved back to it. When none is complete the run is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from safetensors import safe_open

from mtp_cli.artifacts import MtpError, read_manifest
from mtp_cli.artifacts.integrity import files_problem, safetensors_header_problem
from mtp_cli.model.checkpoint import WEIGHTS_NAME, first_non_finite, is_finite
from mtp_cli.model.sharded import SHARDED_STATE_NAME, is_sharded, read_sharded_weights
from mtp_cli.train.checkpointing import CHECKPOINTS_NAME, TRAINER_STATE_NAME, TRAINER_TENSORS_NAME, move_latest

DAMAGED_PREFIX = "damaged-"


@dataclass
class ResumePoint:
    checkpoint: Path | None  # None: no checkpoint at all, the run starts over
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (folder name, what is wrong)

    def notices(self) -> list[str]:
        target = self.checkpoint.name if self.checkpoint else "the start"
        return [f"checkpoint {name} is damaged ({problem}); moved aside as {DAMAGED_PREFIX}{name}, resuming from {target}"
                for name, problem in self.skipped]


def step_folders(run: Path) -> list[Path]:
    """The run's checkpoint folders, newest first."""
    checkpoints = run / CHECKPOINTS_NAME
    if not checkpoints.is_dir():
        return []
    return sorted((p for p in checkpoints.glob("step-*") if p.is_dir()), key=lambda p: p.name, reverse=True)


def checkpoint_problem(folder: Path) -> str | None:
    """What makes `folder` unusable for resuming, or None when it is complete."""
    try:
        manifest = read_manifest(folder, "checkpoint")
    except MtpError as e:
        return e.message
    entries = manifest.get("files")
    if entries is None:  # written before manifests listed files: check what can be checked
        missing = [n for n in (WEIGHTS_NAME, TRAINER_STATE_NAME, TRAINER_TENSORS_NAME) if not (folder / n).is_file()]
        return f"{missing[0]} is missing" if missing else safetensors_header_problem(folder / WEIGHTS_NAME)
    problem = files_problem(folder, entries)
    if problem is None and is_sharded(folder):
        bad = first_non_finite(read_sharded_weights(folder))
        problem = None if bad is None else f"{SHARDED_STATE_NAME}/: {bad} holds non-finite values (NaN or inf)"
    elif problem is None and (folder / WEIGHTS_NAME).is_file():
        problem = _non_finite_weight(folder / WEIGHTS_NAME)
    return problem


def _non_finite_weight(path: Path) -> str | None:
    """One tensor at a time: memory stays near the largest tensor."""
    with safe_open(str(path), framework="pt") as f:
        for name in f.keys():
            tensor = f.get_tensor(name)
            if not is_finite(tensor):
                return f"{WEIGHTS_NAME}: {name} holds non-finite values (NaN or inf)"
    return None


def find_resume_point(run: Path) -> ResumePoint:
    """The newest complete checkpoint; refuses when there are checkpoints and none is complete."""
    skipped: list[tuple[str, str]] = []
    for folder in step_folders(run):
        problem = checkpoint_problem(folder)
        if problem is None:
            return ResumePoint(folder, skipped)
        skipped.append((folder.name, problem))
    if skipped:
        details = "; ".join(f"{name}: {problem}" for name, problem in skipped)
        raise MtpError(f"--resume: {run} has no complete checkpoint ({details})", "start a new run in another --out")
    return ResumePoint(None)


def set_damaged_aside(run: Path, point: ResumePoint) -> None:
    """Rename the skipped folders and point `latest` at the resume point (rank 0, under the run's lock)."""
    checkpoints = run / CHECKPOINTS_NAME
    for name, _ in point.skipped:
        target = checkpoints / f"{DAMAGED_PREFIX}{name}"
        suffix = 1
        while target.exists():
            suffix += 1
            target = checkpoints / f"{DAMAGED_PREFIX}{name}.{suffix}"
        os.replace(checkpoints / name, target)
    if point.skipped and point.checkpoint is not None:
        move_latest(checkpoints, point.checkpoint.name)
