"""Sharded checkpoints, read whole: the `state/` folder that torch.distributed.checkpoint (DCP) writes.

Under torchrun every process writes its own shards of the weights and optimizer state into
`STEP/state/` (`__RANK_N.distcp` files and a `.metadata` index of where each tensor's pieces lie);
nothing is gathered on one process. Generation, export and --init-from need the whole weights in
one process: DCP reads them back into full-size tensors, in any process and without a process group.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

SHARDED_STATE_NAME = "state"  # the DCP folder inside a sharded checkpoint
METADATA_NAME = ".metadata"  # DCP's index, written last by the coordinating process
MODEL_KEY = "model"  # top-level keys of the saved state: {"model": weights, "optimizer": state}


def is_sharded(folder: Path) -> bool:
    return (Path(folder) / SHARDED_STATE_NAME / METADATA_NAME).is_file()


def read_sharded_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The full weights of a sharded checkpoint, by name, on the CPU (resharded by DCP from the shards)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata

    reader = dcp.FileSystemReader(str(Path(folder) / SHARDED_STATE_NAME))
    prefix = MODEL_KEY + "."
    weights = {
        key[len(prefix):]: torch.empty(meta.size, dtype=meta.properties.dtype)
        for key, meta in reader.read_metadata().state_dict_metadata.items()
        if key.startswith(prefix) and isinstance(meta, TensorStorageMetadata)
    }
    state = {MODEL_KEY: weights}
    load_sharded(state, folder, reader=reader, alone=True)  # whatever other processes do meanwhile
    return state[MODEL_KEY]


def load_sharded(state: dict, folder: Path, reader=None, alone: bool | None = None) -> None:
    """Fill `state` from a sharded checkpoint: `alone` in this process, or (False) collectively with
    every rank of the process group; by default collectively when there is a process group (without
    DCP's warning when there is none)."""
    import torch.distributed as dist
    import torch.distributed.checkpoint as dcp

    reader = reader or dcp.FileSystemReader(str(Path(folder) / SHARDED_STATE_NAME))
    if alone is None:
        alone = not (dist.is_available() and dist.is_initialized())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        dcp.load(state, storage_reader=reader, no_dist=alone)
