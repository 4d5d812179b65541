"""`RUN/checkpoints/step-NNNNNN/`: model files plus what resuming needs, written atomically.

Beside the model files (see mtp_cli.model.checkpoint) a step folder holds `trainer_state.json`
(step, tokens seen, data position: readable) and `trainer.pt` (optimizer state and RNG states).
Each folder is built under a temporary name, every file and the folder flushed to the disk, renamed
into place, and only then is `latest` rewritten (and flushed), so a power cut never leaves a `latest`
that points at missing data; only the newest `keep` folders stay. The folder's manifest lists every
file with its size and sha256, which `--resume` checks (resume_point.py). A disk without room for the
checkpoint is refused before anything is written, or, when it fills during the save, the staged
folder is removed: either way the previous checkpoint stays as it was.

Whatever the number of processes or sharding, a checkpoint holds the full, unsharded state: the
weights and the optimizer state keyed by parameter name (torch.distributed.checkpoint's full state
dicts, gathered by every rank and written by rank 0), so a run resumes under any world size, with or
without --fsdp.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_optimizer_state_dict,
)

from mtp_cli.artifacts import atomic_write_json, atomic_write_text, build_manifest, staged_folder, write_manifest
from mtp_cli.artifacts.disk_space import check_free_space, disk_full_as_error
from mtp_cli.artifacts.integrity import describe_files
from mtp_cli.model import MtpTransformer, write_model_files
from mtp_cli.model.checkpoint import LATEST_NAME, load_tensors, read_weights
from mtp_cli.train.distributed import World, barrier

TRAINER_STATE_NAME = "trainer_state.json"
TRAINER_TENSORS_NAME = "trainer.pt"
CHECKPOINTS_NAME = "checkpoints"
RESUME_HINT = "free space on that filesystem, then continue with --resume"
_SLACK_BYTES = 1 << 20  # config, tokenizer and state files beside the tensors, and headers


@dataclass
class TrainerState:
    step: int = 0
    tokens_seen: int = 0
    sampler: dict[str, Any] = field(default_factory=dict)
    elapsed_seconds: float = 0.0


def step_folder_name(step: int) -> str:
    return f"step-{step:06d}"


def rng_states() -> dict[str, Any]:
    states: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        for index, state in enumerate(states["cuda"][: torch.cuda.device_count()]):  # GPUs may differ on resume
            torch.cuda.set_rng_state(state, index)


FULL_STATE = StateDictOptions(full_state_dict=True, cpu_offload=True)  # gathered on rank 0, on the CPU


def save_checkpoint(
    run: Path,
    model: MtpTransformer,
    optimizer: torch.optim.Optimizer,
    state: TrainerState,
    tokenizer_json: str,
    tokenizer: dict[str, Any],
    keep: int,
    arguments: dict[str, Any],
    world: World = World(),
) -> Path:
    """Every rank calls this (gathering sharded state is collective); rank 0 writes the folder."""
    weights = get_model_state_dict(model, options=FULL_STATE)
    optimizer_state = get_optimizer_state_dict(model, optimizer, options=FULL_STATE)
    checkpoints = run / CHECKPOINTS_NAME
    folder = checkpoints / step_folder_name(state.step)
    if world.is_main:
        needed = tensor_bytes(weights) + tensor_bytes(optimizer_state) + len(tokenizer_json) + _SLACK_BYTES
        check_free_space(checkpoints, needed, RESUME_HINT)
        with staged_folder(folder, overwrite=True, durable=True) as stage, disk_full_as_error(folder, needed, RESUME_HINT):
            write_model_files(stage, model, tokenizer_json, tokenizer, weights, step=state.step, tokens_seen=state.tokens_seen)
            atomic_write_json(stage / TRAINER_STATE_NAME, vars(state))
            torch.save({"optimizer": optimizer_state, "rng": rng_states()}, stage / TRAINER_TENSORS_NAME)
            files = describe_files(stage, sorted(stage.iterdir()))
            inputs = [{"kind": "run", "path": str(run)}]
            write_manifest(stage, build_manifest("checkpoint", arguments, inputs, step=state.step, layout="full", files=files))
        move_latest(checkpoints, folder.name)
        prune_checkpoints(checkpoints, keep)
    barrier(world)  # the folder is in place for every rank
    return folder


def tensor_bytes(state: Any) -> int:
    """Bytes of every tensor in a nested state dict: what writing it takes on the disk."""
    if isinstance(state, torch.Tensor):
        return state.numel() * state.element_size()
    if isinstance(state, dict):
        return sum(tensor_bytes(v) for v in state.values())
    if isinstance(state, (list, tuple)):
        return sum(tensor_bytes(v) for v in state)
    return 0


def move_latest(checkpoints: Path, name: str) -> None:
    atomic_write_text(checkpoints / LATEST_NAME, name + "\n", durable=True)


def prune_checkpoints(checkpoints: Path, keep: int) -> None:
    folders = sorted(p for p in checkpoints.glob("step-*") if p.is_dir())
    for old in folders[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def load_model_weights(folder: Path, model: MtpTransformer) -> None:
    """The checkpoint's full weights into an unsharded model (before compile, wrapping or sharding)."""
    load_tensors(model, read_weights(folder, device=next(model.parameters()).device))


def load_training_state(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> TrainerState:
    """Optimizer (into this rank's shards under FSDP) and RNG back into place; returns the step and data
    position. The weights are loaded before the model is prepared: see `load_model_weights`."""
    saved = torch.load(folder / TRAINER_TENSORS_NAME, map_location="cpu", weights_only=True)
    groups = saved["optimizer"]["param_groups"]
    if groups and groups[0]["params"] and isinstance(groups[0]["params"][0], int):  # by index: an older checkpoint
        optimizer.load_state_dict(saved["optimizer"])
    else:
        set_optimizer_state_dict(model, optimizer, saved["optimizer"], options=StateDictOptions(full_state_dict=True))
    restore_rng(saved["rng"])
    return TrainerState(**json.loads((folder / TRAINER_STATE_NAME).read_text()))
