"""A recipe's training runs side by side, one process each: `mtp pipeline run --jobs N`.

Each run is a spawned process that calls `train` with the run's own settings (its torch threads
included), so it computes exactly what it would in the pipeline's own process; only the order in
which runs finish changes. The runs send their training records and then their outcome back through
one queue, and the parent shows them.

Ctrl-C: the runs sit in process groups of their own, so a terminal's Ctrl-C reaches only the parent,
which forwards it once to each running training (it stops after its step and saves; a second Ctrl-C
aborts, as in `mtp train`) and starts no further run. A run that fails stops the others the same
way, so that every run that was going can resume on the next `mtp pipeline run`.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from mtp_cli.artifacts import MtpError

DEAD_GRACE_SECONDS = 2.0  # a finished process's last messages may still be in the pipe


@dataclass
class Job:
    name: str
    config: Any  # TrainConfig
    resume: bool
    key: str = ""  # the pipeline's done-marker key, kept for when the run finishes


@dataclass
class Outcome:
    name: str
    status: str  # completed | interrupted | failed
    seconds: float
    step: int | None = None  # None: stopped without a save (its last checkpoint, if any, stays)
    checkpoint: Path | None = None
    error: MtpError | None = None


class QueueObserver:
    """The trainer's observer in a run's process: every event goes to the parent, tagged with the run."""

    def __init__(self, name: str, events: Any):
        self.name, self.events = name, events

    def _send(self, event: str, *args: Any) -> None:
        self.events.put((self.name, event, args))

    def on_start(self, plan: dict[str, Any]) -> None:
        self._send("on_start", plan)

    def on_step(self, record: dict[str, Any]) -> None:
        self._send("on_step", record)

    def on_eval(self, record: dict[str, Any]) -> None:
        self._send("on_eval", record)

    def on_checkpoint(self, step: int, folder: Path) -> None:
        self._send("on_checkpoint", step, folder)

    def on_notice(self, message: str) -> None:
        self._send("on_notice", message)


def train_job(job: Job, events: Any) -> None:
    """A run's process: train, then send the outcome (or the error, as one line and a hint)."""
    if hasattr(os, "setpgrp"):
        os.setpgrp()  # out of the terminal's foreground group: Ctrl-C comes through the parent, once
    from mtp_cli.train import train

    try:
        result = train(job.config, resume=job.resume, observer=QueueObserver(job.name, events))
        events.put((job.name, "outcome", (result.status, result.step, result.checkpoint, None)))
    except MtpError as e:
        events.put((job.name, "outcome", ("failed", None, None, MtpError(e.message, e.hint))))
    except KeyboardInterrupt:  # a second Ctrl-C, or one before the training loop: nothing saved now
        events.put((job.name, "outcome", ("interrupted", None, None, None)))
    except BaseException as e:  # noqa: BLE001 - the parent reports it; the traceback goes to stderr
        traceback.print_exc()
        events.put((job.name, "outcome", ("failed", None, None, MtpError(f"run {job.name} failed: {type(e).__name__}: {e}"))))


def longest_first(jobs: list[Job], cost: Callable[[Job], float]) -> list[Job]:
    """The costliest runs start first, so that a long run does not start last and run alone."""
    return sorted(jobs, key=cost, reverse=True)  # stable: equal costs keep the recipe's order


class SideBySide:
    """Runs `jobs` in at most `workers` processes, in the given order. Each run's training events go
    to `observer(name)`; `started(job)` and `finished(outcome)` are called as runs start and end."""

    def __init__(self, jobs: list[Job], workers: int, observer: Callable[[str], Any], target: Callable = train_job):
        self.waiting = list(jobs)
        self.workers, self.observer, self.target = workers, observer, target
        self.context = multiprocessing.get_context("spawn")
        self.events = self.context.Queue()
        self.running: dict[str, tuple[Any, float]] = {}  # name -> (process, start time)
        self.dead_since: dict[str, float] = {}
        self.interrupted = False  # by Ctrl-C
        self.asked: set[str] = set()  # runs sent their SIGINT

    def run(self, started: Callable[[Job], None], finished: Callable[[Outcome], None]) -> None:
        try:
            while self.waiting or self.running:
                try:
                    self._launch(started)
                    self._next_event(finished)
                except KeyboardInterrupt:
                    self.on_ctrl_c()
        finally:
            for process, _ in self.running.values():  # only after an unexpected error here
                process.kill()

    def on_ctrl_c(self) -> None:
        if self.interrupted:  # the second: it reaches each training as its second, which aborts it
            self._signal(self.running)
        self.interrupted = True
        self.stop()

    def stop(self) -> None:
        """Start nothing more; ask every running training, once, to stop after its step and save
        (a second SIGINT would abort it without a save)."""
        self.waiting.clear()
        self._signal([name for name in self.running if name not in self.asked])

    def _signal(self, names: Iterable[str]) -> None:
        for name in list(names):
            process = self.running[name][0]
            if process.is_alive():
                os.kill(process.pid, signal.SIGINT)
            self.asked.add(name)

    def _launch(self, started: Callable[[Job], None]) -> None:
        while self.waiting and len(self.running) < self.workers:
            job = self.waiting.pop(0)
            process = self.context.Process(target=self.target, args=(job, self.events), name=f"mtp-train-{job.name}", daemon=True)
            process.start()
            self.running[job.name] = (process, time.perf_counter())
            started(job)

    def _next_event(self, finished: Callable[[Outcome], None]) -> None:
        try:
            name, event, args = self.events.get(timeout=0.5)
        except queue.Empty:
            self._reap_dead(finished)
            return
        if event == "outcome":
            finished(self._finish(name, *args))
        elif name in self.running:
            getattr(self.observer(name), event)(*args)

    def _finish(self, name: str, status: str, step: int | None, checkpoint: Path | None, error: MtpError | None) -> Outcome:
        process, started = self.running.pop(name)
        process.join()
        self.dead_since.pop(name, None)
        return Outcome(name, status, time.perf_counter() - started, step, checkpoint, error)

    def _reap_dead(self, finished: Callable[[Outcome], None]) -> None:
        """A process that ended without sending its outcome (killed, out of memory) failed."""
        now = time.perf_counter()
        for name, (process, _) in list(self.running.items()):
            if process.exitcode is None or now - self.dead_since.setdefault(name, now) < DEAD_GRACE_SECONDS:
                continue
            error = MtpError(
                f"run {name}'s training process ended with exit code {process.exitcode} before finishing",
                "a negative code is the signal that killed it (-9: often out of memory); rerun to resume from its last checkpoint",
            )
            finished(self._finish(name, "failed", None, None, error))
