"""Writing checkpoints: staged, flushed, renamed, then `latest`; optionally while training goes on.

Every checkpoint is built in a hidden staged folder (`.step-NNNNNN.partial-*`); its files and the
folder are flushed to the disk, the folder is renamed into place, and only then is `latest` rewritten
(and flushed), so a power cut never leaves a `latest` that points at missing data, and a kill at any
point leaves the previous checkpoint usable (the next start removes the staged folder). Only the
newest `keep` folders stay. A disk without room is refused before anything is written; one that
fills during the save loses only the staged folder.

One process writes the full layout. Under torchrun (more than one process) every rank writes its own
shards through torch.distributed.checkpoint into the shared staged folder, without gathering anything
on rank 0; each rank hashes its own files, and rank 0 adds the small files and the manifest once all
ranks are done, then publishes the folder.

`asynchronous` (--async-checkpoint): the state is copied to CPU memory and written by a background
thread while training continues; the next save, and the end of the run, wait for it. `latest` and the
run's manifest name a checkpoint only once it is complete.
"""

from __future__ import annotations

import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, get_optimizer_state_dict

from mtp_cli.artifacts import atomic_write_json, build_manifest, write_manifest
from mtp_cli.artifacts.atomic import PARTIAL_MARK, fsync_path, publish_folder
from mtp_cli.artifacts.disk_space import check_free_space, disk_full_as_error
from mtp_cli.artifacts.integrity import describe_files
from mtp_cli.model import ModelConfig, MtpTransformer
from mtp_cli.model.checkpoint import write_model_config, write_weights
from mtp_cli.model.sharded import MODEL_KEY, SHARDED_STATE_NAME
from mtp_cli.train.checkpointing import (
    CHECKPOINTS_NAME,
    OPTIMIZER_KEY,
    RESUME_HINT,
    TRAINER_STATE_NAME,
    TRAINER_TENSORS_NAME,
    TrainerState,
    move_latest,
    prune_checkpoints,
    rng_states,
    step_folder_name,
    tensor_bytes,
)
from mtp_cli.train.distributed import World, all_gather_object, barrier

FULL_STATE = StateDictOptions(full_state_dict=True, cpu_offload=True)  # gathered on rank 0, on the CPU
_SLACK_BYTES = 1 << 20  # config, tokenizer and state files beside the tensors, and headers


@dataclass
class SaveJob:
    """One checkpoint on its way: what was captured at its step, and the write still running."""

    folder: Path
    stage: Path
    trainer_state: dict[str, Any]
    rng: dict[str, Any]
    config: ModelConfig
    needed: int = 0
    writing: Future | None = None


class Checkpointer:
    def __init__(self, run: Path, model_files: dict[str, Any], keep: int, arguments: dict[str, Any],
                 world: World = World(), asynchronous: bool = False, sharded: bool | None = None):
        """`model_files`: what every checkpoint carries beside the weights (write_model_config's
        config, tokenizer_json and tokenizer). `sharded`: the layout, by default sharded exactly when
        there is more than one process (the full layout under torchrun gathers the whole state on
        rank 0, as mtp did before sharded checkpoints: bench/train.py --checkpoint compares them)."""
        self.checkpoints = Path(run) / CHECKPOINTS_NAME
        self.run, self.model_files, self.keep, self.arguments = Path(run), model_files, keep, arguments
        self.world, self.asynchronous = world, asynchronous
        self.sharded = world.size > 1 if sharded is None else sharded
        self.latest: Path | None = None  # the newest complete checkpoint written by this process
        self._job: SaveJob | None = None
        writer_thread = asynchronous and not self.sharded and world.is_main
        self._thread = ThreadPoolExecutor(max_workers=1) if writer_thread else None
        # DCP's background save runs collectives of its own: a gloo group apart from training's.
        self._group = dist.new_group(backend="gloo") if asynchronous and self.sharded else None

    def save(self, model: MtpTransformer, optimizer: torch.optim.Optimizer, state: TrainerState) -> None:
        """Every rank calls this. Synchronous: returns with the checkpoint in place."""
        self.wait()
        folder = self.checkpoints / step_folder_name(state.step)
        stage = folder.with_name(f".{folder.name}{PARTIAL_MARK}staged")
        job = SaveJob(folder, stage, dict(vars(state)), rng_states(), model.config)
        try:
            if self.sharded:
                self._start_sharded(job, model, optimizer)
            else:
                self._start_full(job, model, optimizer)
        except BaseException:
            if self.world.is_main:
                shutil.rmtree(job.stage, ignore_errors=True)
            raise
        self._job = job
        if not self.asynchronous:
            self.wait()

    def wait(self) -> None:
        """Finish the save in flight, if any (collective under torchrun)."""
        job, self._job = self._job, None
        if job is None:
            return
        try:
            with disk_full_as_error(job.folder, job.needed, RESUME_HINT):
                if job.writing is not None:
                    job.writing.result()
                if self.sharded:
                    self._finish_sharded(job)
            barrier(self.world)  # full layout: the other ranks wait for rank 0's writing
        except BaseException:
            if self.world.is_main:
                shutil.rmtree(job.stage, ignore_errors=True)
            raise
        self.latest = job.folder

    def close(self) -> None:
        self.wait()
        if self._thread is not None:
            self._thread.shutdown()

    # ---- one process: the full layout --------------------------------------------------------

    def _start_full(self, job: SaveJob, model: MtpTransformer, optimizer: torch.optim.Optimizer) -> None:
        weights = get_model_state_dict(model, options=FULL_STATE)
        optimizer_state = get_optimizer_state_dict(model, optimizer, options=FULL_STATE)
        if not self.world.is_main:  # the gathered state is rank 0's to write
            return
        job.needed = tensor_bytes(weights) + tensor_bytes(optimizer_state) + _SLACK_BYTES
        check_free_space(self.checkpoints, job.needed, RESUME_HINT)
        if self._thread is None:
            self._write_full(job, weights, optimizer_state)
            return
        weights, optimizer_state = _snapshot(weights), _snapshot(optimizer_state)  # training goes on meanwhile
        job.writing = self._thread.submit(self._write_full, job, weights, optimizer_state)

    def _write_full(self, job: SaveJob, weights: dict[str, torch.Tensor], optimizer_state: dict[str, Any]) -> None:
        self._fresh_stage(job)
        try:
            with disk_full_as_error(job.folder, job.needed, RESUME_HINT):
                write_weights(job.stage, job.config, weights)
                self._write_small_files(job)
                torch.save({"optimizer": optimizer_state, "rng": job.rng}, job.stage / TRAINER_TENSORS_NAME)
                files = describe_files(job.stage, sorted(job.stage.iterdir()))
                self._publish(job, files, layout="full")
        except BaseException:
            shutil.rmtree(job.stage, ignore_errors=True)
            raise

    # ---- torchrun: every rank writes its shards ----------------------------------------------

    def _start_sharded(self, job: SaveJob, model: MtpTransformer, optimizer: torch.optim.Optimizer) -> None:
        import torch.distributed.checkpoint as dcp

        if self.world.is_main:
            self._fresh_stage(job)
        barrier(self.world)
        state = {MODEL_KEY: get_model_state_dict(model), OPTIMIZER_KEY: get_optimizer_state_dict(model, optimizer)}
        job.needed = tensor_bytes(state) + _SLACK_BYTES  # every tensor's global size: the whole checkpoint
        check_free_space(self.checkpoints, job.needed, RESUME_HINT)  # the same filesystem for every rank
        target = str(job.stage / SHARDED_STATE_NAME)
        with disk_full_as_error(job.folder, job.needed, RESUME_HINT):
            if self.asynchronous:
                job.writing = _as_future(dcp.async_save(state, checkpoint_id=target, process_group=self._group))
            else:
                dcp.save(state, checkpoint_id=target)

    def _finish_sharded(self, job: SaveJob) -> None:
        own = sorted((job.stage / SHARDED_STATE_NAME).glob(f"__{self.world.rank}_*.distcp"))
        for path in own:
            fsync_path(path)
        shards = [entry for entries in all_gather_object(describe_files(job.stage, own), self.world) for entry in entries]
        if self.world.is_main:
            self._write_small_files(job)
            torch.save({"rng": job.rng}, job.stage / TRAINER_TENSORS_NAME)
            small = [p for p in job.stage.iterdir() if p.is_file()] + [job.stage / SHARDED_STATE_NAME / ".metadata"]
            files = sorted(describe_files(job.stage, small) + shards, key=lambda e: e["path"])
            self._publish(job, files, layout="sharded", world_size=self.world.size)
        barrier(self.world)

    # ---- shared ------------------------------------------------------------------------------

    def _fresh_stage(self, job: SaveJob) -> None:
        shutil.rmtree(job.stage, ignore_errors=True)  # left by a save that failed in this process
        job.stage.mkdir(parents=True)

    def _write_small_files(self, job: SaveJob) -> None:
        step, tokens_seen = job.trainer_state["step"], job.trainer_state["tokens_seen"]
        write_model_config(job.stage, job.config, **self.model_files, step=step, tokens_seen=tokens_seen)
        atomic_write_json(job.stage / TRAINER_STATE_NAME, job.trainer_state)

    def _publish(self, job: SaveJob, files: list[dict[str, Any]], **fields: Any) -> None:
        """Manifest last, then flush, rename, flush, and only then `latest`."""
        step = job.trainer_state["step"]
        inputs = [{"kind": "run", "path": str(self.run)}]
        write_manifest(job.stage, build_manifest("checkpoint", self.arguments, inputs, step=step, files=files, **fields))
        publish_folder(job.stage, job.folder, durable=True)
        move_latest(self.checkpoints, job.folder.name)
        prune_checkpoints(self.checkpoints, self.keep)


def _snapshot(state: Any) -> Any:
    """A copy of every tensor of a nested state dict, so the live ones may change while it is written."""
    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    if isinstance(state, dict):
        return {k: _snapshot(v) for k, v in state.items()}
    if isinstance(state, list):
        return [_snapshot(v) for v in state]
    return state


def _as_future(response: Any) -> Future:
    """async_save returns a Future, or (newer torch) a response holding the upload's future."""
    return response if isinstance(response, Future) else response.upload_completion

