"""The training loop: set up, then step, log, evaluate and checkpoint until done or stopped.

    config = TrainConfig(data="data/", out="run/", preset="tiny", heads=4, steps=200)
    result = train(config)                       # or train(config, resume=True)

Reproducible on CPU: the same config gives the same losses, and a run resumed from step k gives the
losses of the uninterrupted run after step k (weights, optimizer, RNG and data position restored).

Under torchrun every process runs this loop on its share of each step's rows (see distributed.py):
the same global batch gives the same losses, up to float rounding, at any number of processes.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from mtp_cli.artifacts import MtpError
from mtp_cli.artifacts.disk_space import DiskFull
from mtp_cli.artifacts.interrupts import sigint_handler
from mtp_cli.model import train_flops_per_token
from mtp_cli.train.checkpointing import (
    RESUME_HINT,
    TrainerState,
    load_model_weights,
    load_training_state,
)
from mtp_cli.train.checkpoint_writer import Checkpointer
from mtp_cli.train.config import TrainConfig
from mtp_cli.train.data import IGNORE, RowSampler, micro_batches
from mtp_cli.train.prefetch import BatchPrefetcher
from mtp_cli.train.distributed import (
    World,
    all_reduce_fields_,
    all_reduce_gradients,
    all_reduce_sum_,
    any_rank,
    barrier,
    broadcast_object,
    join_process_group,
    leave_process_group,
)
from mtp_cli.train.validation import validate
from mtp_cli.train.metrics import MetricsLog
from mtp_cli.train.mfu import device_peak_tflops, mfu
from mtp_cli.train.objective import HeadSums, backward_efficient, backward_naive, lookahead
from mtp_cli.train.observer import NullObserver, TrainObserver
from mtp_cli.train.trackers import Observers, TrackerObserver
from mtp_cli.train.optimizer import build_optimizer, set_lr
from mtp_cli.train.parallelize import prepare_model
from mtp_cli.train.resume_point import ResumePoint, find_resume_point, set_damaged_aside
from mtp_cli.train.run_folder import clean_leftovers, holds_run, prepare_run_folder, run_folder_lock, write_run_manifest
from mtp_cli.train.schedule import default_warmup, lr_at
from mtp_cli.model.device import resolve_device
from mtp_cli.train.setup import build_model, open_data, resolve_model_config
from mtp_cli.model.threads import set_threads


@dataclass
class Plan:
    total_steps: int
    rows_per_step: int
    tokens_per_step: int
    warmup: int


@dataclass
class TrainResult:
    status: str  # completed | interrupted
    step: int
    total_steps: int
    tokens_seen: int
    checkpoint: Path | None
    last_train: dict[str, Any] = field(default_factory=dict)
    last_eval: dict[str, Any] = field(default_factory=dict)
    elapsed_seconds: float = 0.0


class NonFiniteLoss(MtpError):
    pass


def make_plan(config: TrainConfig, seq_len: int, train_rows: int) -> Plan:
    rows = max(1, config.batch_tokens // seq_len)
    tokens_per_step = rows * seq_len
    if config.steps is not None:
        steps = config.steps
    elif config.tokens is not None:
        steps = math.ceil(config.tokens / tokens_per_step)
    else:
        steps = max(1, train_rows // rows)  # one pass over the train split
    warmup = default_warmup(steps) if config.warmup is None else min(config.warmup, steps)
    return Plan(steps, rows, tokens_per_step, warmup)


@contextmanager
def stop_requests() -> Iterator[Callable[[], bool]]:
    """Ctrl-C asks the loop to stop after the current step (it then saves); a second one aborts.

    Under torchrun the workers get torchrun's forwarded SIGINT (it kills them 30 s later).
    """
    requested = threading.Event()

    def on_sigint() -> None:
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()

    with sigint_handler(on_sigint):
        yield requested.is_set


class Trainer:
    def __init__(self, config: TrainConfig, resume: bool = False, observer: TrainObserver | None = None):
        self.config = config
        world = World.from_env()
        self.device = resolve_device(config.device, world.local_rank if world.launched else None, world.size)
        set_threads(config.threads)
        self.world = world.on(self.device)
        self.owns_process_group = join_process_group(self.world)
        # Only rank 0 reports: to the caller's observer and to the experiment trackers.
        self.trackers = TrackerObserver(config.log_to, config.out, config.to_dict()) if self.world.is_main else None
        self.observer = Observers(observer or NullObserver(), self.trackers) if self.world.is_main else NullObserver()
        stored = prepare_run_folder(config, resume)
        self.data = open_data(config)
        if stored is not None and stored["inputs"][0]["manifest_sha256"] != self.data.identity["manifest_sha256"]:
            raise MtpError(f"--resume: {config.data} is not the data this run was trained on", "pass the run's data folder")
        self.model_config = resolve_model_config(config, self.data)
        self.plan = make_plan(config, self.data.data.seq_len, len(self.data.train))
        self.share = self.world.share(self.plan.rows_per_step)
        self.checkpoint: Path | None = self._resume_point() if resume else None
        model = build_model(self.model_config, config, self.device)
        if self.checkpoint is not None:
            load_model_weights(self.checkpoint, model)
        self.model = prepare_model(model, config, self.device)
        self.optimizer = build_optimizer(self.model, config, self.device)
        self.sampler = RowSampler(len(self.data.train), config.seed)
        self.batches = BatchPrefetcher(self.data.train, lookahead(self.model_config), self.device)
        self.metrics = MetricsLog(config.out, writer=self.world.is_main)
        self.state = TrainerState()
        self.last_train: dict[str, Any] = {}
        self.last_eval: dict[str, Any] = {}
        self.backward = backward_naive if config.naive_mtp else backward_efficient
        self.weights = config.head_weights
        self.flops_per_token = train_flops_per_token(self.model_config, self.data.data.seq_len)
        self.peak_tflops = device_peak_tflops(self.device, config.peak_tflops)
        model_files = {"tokenizer_json": self.data.tokenizer_json, "tokenizer": self.data.tokenizer}
        self.checkpointer = Checkpointer(config.out, model_files, config.keep_checkpoints, config.to_dict(), self.world,
                                         config.async_checkpoint)
        if resume:
            self._restore()
        self.saved_step = self.state.step if self.checkpoint is not None else None
        barrier(self.world)  # every rank has checked the run folder before rank 0 writes into it

    # ---- state ----------------------------------------------------------------------------

    def _resume_point(self) -> Path | None:
        """Rank 0 removes what a killed save left, picks the newest complete checkpoint and sets
        damaged ones aside; every rank resumes from its choice."""
        point: ResumePoint | MtpError | None = None
        if self.world.is_main:
            clean_leftovers(self.config.out)
            try:
                point = find_resume_point(self.config.out)
                set_damaged_aside(self.config.out, point)
            except MtpError as e:
                point = e
        point = broadcast_object(point, self.world)
        if isinstance(point, MtpError):
            raise point
        for notice in point.notices():
            self.observer.on_notice(notice)
        return point.checkpoint

    def _restore(self) -> None:
        if self.checkpoint is None:  # the run stopped before its first checkpoint: start it over
            self.metrics.truncate_after(0)
            return
        self.state = load_training_state(self.checkpoint, self.model, self.optimizer)
        self.sampler.load_state_dict(self.state.sampler)
        self.metrics.truncate_after(self.state.step)
        for record in self.metrics.read(up_to=self.state.step):  # every rank: they decide alike on a final eval
            if record.get("event") == "train":
                self.last_train = record
            elif record.get("event") == "eval":
                self.last_eval = record

    def autocast(self) -> AbstractContextManager:
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def save(self) -> None:
        """Checkpoint this step; with --async-checkpoint it is written while training goes on, and
        `self.checkpoint` (what the manifest names) moves once it is complete."""
        self.state.sampler = self.sampler.state_dict()
        self.checkpointer.save(self.model, self.optimizer, self.state)
        self.saved_step = self.state.step
        self._note_checkpoint()

    def _note_checkpoint(self) -> None:
        if self.checkpointer.latest is None or self.checkpointer.latest == self.checkpoint:
            return
        self.checkpoint = self.checkpointer.latest
        self.write_manifest("running")
        self.observer.on_checkpoint(int(self.checkpoint.name.split("-")[1]), self.checkpoint)

    def write_manifest(self, status: str, **extra: Any) -> None:
        if not self.world.is_main:
            return
        write_run_manifest(
            self.config,
            [self.data.identity],
            status=status,
            model=self.model_config.to_dict(),
            tokenizer=self.data.tokenizer,
            parameters={"total": self.model.num_params(), "non_embedding": self.model.num_params(non_embedding=True)},
            plan=vars(self.plan) | {"micro_batch": self.config.micro_batch, "seq_len": self.data.data.seq_len},
            device=str(self.device),
            world_size=self.world.size,
            train_flops_per_token=self.flops_per_token,
            peak_tflops_per_device=self.peak_tflops,
            step=self.state.step,
            tokens_seen=self.state.tokens_seen,
            elapsed_seconds=round(self.state.elapsed_seconds, 3),
            latest_checkpoint=self.checkpoint.name if self.checkpoint else None,
            last_train=self.last_train,
            last_validation=self.last_eval,
            **extra,
        )

    # ---- one step ---------------------------------------------------------------------------

    def train_step(self) -> dict[str, Any]:
        started = time.perf_counter()
        lr = lr_at(self.state.step, self.config.lr, self.plan.warmup, self.plan.total_steps, self.config.min_lr_ratio)
        set_lr(self.optimizer, lr)
        n = self.model.n_future_tokens
        rows = self.sampler.take(self.plan.rows_per_step)[self.share]  # every rank draws the same step
        inputs, targets = self.batches.get(rows)
        data_seconds = time.perf_counter() - started  # the host's wait for this step's batch
        if self.state.step + 1 < self.plan.total_steps:
            self.batches.prepare(self.sampler.peek(self.plan.rows_per_step)[self.share])
        # Scales divide by the whole step's real targets, over all ranks, as in one process.
        real = all_reduce_sum_((targets != IGNORE).sum(dim=(1, 2)), self.world).clamp(min=1)
        scales = [w / int(c) for w, c in zip(self.weights, real)]
        # A position's shifted targets end as a suffix of IGNOREs, so the positions whose whole window is
        # real are those with a real target w - 1 ahead: already counted in `real`.
        w = self.model_config.window_size
        window_scale = self.config.window_weight / int(real[w - 1]) if w else 0.0
        sums = HeadSums.zeros(n)
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        for micro_inputs, micro_targets in micro_batches(inputs, targets, self.config.micro_batch):
            micro_inputs, micro_targets = self.batches.to_device(micro_inputs), self.batches.to_device(micro_targets)
            self.backward(self.model, micro_inputs, micro_targets, scales, sums, self.autocast(), window_scale)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        if not self.config.fsdp:  # FSDP has reduce-scattered the gradients during backward
            all_reduce_gradients(trainable, self.world)
        all_reduce_fields_(sums, self.world)
        head_loss = sums.mean_loss()
        window = sums.window_metrics()
        loss = sum(w * l for w, l in zip(self.weights, head_loss)) + self.config.window_weight * window.get("window_loss", 0.0)
        grad_norm = _as_float(torch.nn.utils.clip_grad_norm_(trainable, self.config.grad_clip))
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            self._stop_non_finite(loss, grad_norm, head_loss)
        self.optimizer.step()
        seconds = time.perf_counter() - started
        tokens_per_second = self.plan.tokens_per_step / seconds  # all ranks' tokens
        self.state.step += 1
        self.state.tokens_seen += self.plan.tokens_per_step
        self.state.elapsed_seconds += seconds
        return {
            "event": "train",
            "step": self.state.step,
            "tokens": self.state.tokens_seen,
            "lr": lr,
            "loss": loss,
            "head_loss": head_loss,
            "head_accuracy": sums.accuracy(),
            **window,
            "grad_norm": grad_norm,
            "step_seconds": seconds,
            "data_seconds": data_seconds,
            "tokens_per_second": tokens_per_second,
            "mfu": mfu(self.flops_per_token, tokens_per_second, self.peak_tflops, self.world.size),
        }

    def _stop_non_finite(self, loss: float, grad_norm: float, head_loss: list[float]) -> None:
        step = self.state.step + 1
        self.metrics.write({"event": "train", "step": step, "loss": loss, "head_loss": head_loss, "grad_norm": grad_norm})
        kept = f"the last good checkpoint, {self.checkpoint.name}, is kept" if self.checkpoint else "no checkpoint was written yet"
        self.write_manifest("failed", failure=f"non-finite loss at step {step}")
        raise NonFiniteLoss(
            f"the loss became non-finite at step {step} (loss {loss}, gradient norm {grad_norm}); the run stopped and {kept}",
            "lower --lr or raise --warmup, then start a new run (or --resume from the kept checkpoint)",
        )

    def run_eval(self) -> None:
        if self.data.validation is None:
            return
        sums = validate(self.model, self.data.validation, self.config.eval_tokens, self.config.micro_batch, self.device, self.autocast())
        self.last_eval = {"event": "eval", "step": self.state.step, "split": "validation", "head_loss": sums.mean_loss(), "head_accuracy": sums.accuracy(), **sums.window_metrics(), "tokens": int(sums.count[0])}
        self.metrics.write(self.last_eval)
        self.observer.on_eval(self.last_eval)

    # ---- the loop ---------------------------------------------------------------------------

    def run(self) -> TrainResult:
        self.write_manifest("running")
        self.observer.on_start(
            vars(self.plan) | {"start_step": self.state.step, "heads": self.model.n_future_tokens, "device": str(self.device),
                               "parameters": self.model.num_params(), "seq_len": self.data.data.seq_len,
                               "validation_rows": len(self.data.validation) if self.data.validation is not None else 0,
                               "world_size": self.world.size}
        )
        try:
            return self._loop()
        except DiskFull as e:
            self._write_failure(e.message)
            raise DiskFull(e.message, RESUME_HINT) from None
        finally:
            if self.trackers is not None:
                self.trackers.close()
            leave_process_group(self.owns_process_group)

    def _write_failure(self, failure: str) -> None:
        """The run manifest says `failed`, if the disk still takes its few bytes (the failed save's
        staged folder is gone by now); else it keeps its last state, `running`."""
        try:
            self.write_manifest("failed", failure=failure)
        except (DiskFull, OSError):
            pass

    def _loop(self) -> TrainResult:
        config, plan = self.config, self.plan
        status = "completed"
        with stop_requests() as stop_requested:
            while self.state.step < plan.total_steps:
                if any_rank(stop_requested(), self.world):
                    status = "interrupted"
                    break
                self.last_train = self.train_step()
                self.metrics.write(self.last_train)
                self.observer.on_step(self.last_train)
                step = self.state.step
                if step % config.eval_every == 0 and step < plan.total_steps:
                    self.run_eval()
                if step % config.save_every == 0 and step < plan.total_steps:
                    self.save()
            if status == "completed" and self.last_eval.get("step") != self.state.step:
                self.run_eval()
            if self.saved_step != self.state.step:
                self.save()
            self.checkpointer.close()
            self._note_checkpoint()
        self.batches.close()
        self.write_manifest(status)
        return TrainResult(
            status, self.state.step, plan.total_steps, self.state.tokens_seen, self.checkpoint,
            self.last_train, self.last_eval, self.state.elapsed_seconds,
        )


def _as_float(value: torch.Tensor) -> float:
    """A scalar that may be a DTensor (a gradient norm under FSDP)."""
    return float(value.full_tensor() if hasattr(value, "full_tensor") else value)


def train(config: TrainConfig, resume: bool | str = False, observer: TrainObserver | None = None) -> TrainResult:
    """Train under the run folder's lock: a second writer on the same --out is refused. `resume="auto"`
    continues the run in `config.out` if there is one, else starts one there."""
    if resume == "auto":
        resume = holds_run(config.out)
    with run_folder_lock(config.out):
        return Trainer(config, resume, observer).run()
