"""`RUN/checkpoints/step-NNNNNN/`: what a checkpoint holds, and loading it back to resume.

Two layouts, both keyed by parameter name, so a run resumes under any world size, with or without
--fsdp (checkpoint_writer.py writes them):

    full     (one process)   model.safetensors, trainer.pt (optimizer state and RNG states)
    sharded  (torchrun)      state/ (torch.distributed.checkpoint: each rank's shards of the weights
                             and optimizer state, resharded by DCP on load), trainer.pt (RNG states)

Both add config.json, tokenizer.json, trainer_state.json (step, tokens seen, data position:
readable) and manifest.json, which lists every file with its size and sha256 (checked by --resume,
see resume_point.py).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict, set_optimizer_state_dict

from mtp_cli.artifacts import atomic_write_text
from mtp_cli.model import MtpTransformer
from mtp_cli.model.checkpoint import LATEST_NAME, iter_weights, load_tensors
from mtp_cli.model.sharded import is_sharded, load_sharded

TRAINER_STATE_NAME = "trainer_state.json"
TRAINER_TENSORS_NAME = "trainer.pt"
CHECKPOINTS_NAME = "checkpoints"
OPTIMIZER_KEY = "optimizer"  # beside mtp_cli.model.sharded.MODEL_KEY in a sharded checkpoint's state
RESUME_HINT = "free space on that filesystem, then continue with --resume"


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
    load_tensors(model, iter_weights(folder))


def load_training_state(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> TrainerState:
    """Optimizer (into this rank's shards under FSDP) and RNG back into place; returns the step and data
    position. The weights are loaded before the model is prepared: see `load_model_weights`.
    Every rank calls this: reading a sharded checkpoint under torchrun is collective."""
    saved = torch.load(folder / TRAINER_TENSORS_NAME, map_location="cpu", weights_only=True)
    if is_sharded(folder):
        _load_sharded_optimizer(folder, model, optimizer)
    elif _by_index(saved["optimizer"]):  # an older checkpoint
        optimizer.load_state_dict(saved["optimizer"])
    else:
        set_optimizer_state_dict(model, optimizer, saved["optimizer"], options=StateDictOptions(full_state_dict=True))
    restore_rng(saved["rng"])
    return TrainerState(**json.loads((folder / TRAINER_STATE_NAME).read_text()))


def _by_index(optimizer_state: dict[str, Any]) -> bool:
    groups = optimizer_state["param_groups"]
    return bool(groups and groups[0]["params"] and isinstance(groups[0]["params"][0], int))


def _load_sharded_optimizer(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """DCP fills this rank's optimizer state (its shards under FSDP, whole tensors otherwise) from the
    saved shards, whatever world size and sharding wrote them."""
    state = {OPTIMIZER_KEY: get_optimizer_state_dict(model, optimizer)}  # allocates the state to fill
    load_sharded(state, folder)
    set_optimizer_state_dict(model, optimizer, state[OPTIMIZER_KEY])
