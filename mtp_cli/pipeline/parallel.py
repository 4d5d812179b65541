"""A recipe's training runs side by side, one process each: `mtp pipeline run --jobs N`.

Each run is a spawned process that calls `train` with the run's own settings (its torch threads
included), so it computes exactly what it would in the pipeline's own process; only the order in
which runs finish changes. Each run sends its training records and then its outcome back through a
pipe of its own, and the parent shows them. A pipe per run, not one shared queue: a process killed
while writing (by the out-of-memory killer) would hold a shared queue's write lock forever and hang
every other run; a pipe of its own just ends, which is how the parent learns that the run died.

Ctrl-C: the runs sit in process groups of their own, so a terminal's Ctrl-C reaches only the parent,
which forwards it once to each running training (it stops after its step and saves; a second Ctrl-C
aborts, as in `mtp train`) and starts no further run. A run that fails stops the others the same
way, so that every run that was going can resume on the next `mtp pipeline run`.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from mtp_cli.artifacts import MtpError
from mtp_cli.artifacts.interrupts import sigint_handler, sigint_ignored

POLL_SECONDS = 0.5  # how often the parent looks for Ctrl-C while no run has news


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


class PipeObserver:
    """The trainer's observer in a run's process: every event goes to the parent through the run's pipe."""

    def __init__(self, pipe: Any):
        self.pipe, self.lock = pipe, threading.Lock()  # one message at a time, whichever thread sends

    def send(self, event: str, *args: Any) -> None:
        with self.lock:
            self.pipe.send((event, args))

    def on_start(self, plan: dict[str, Any]) -> None:
        self.send("on_start", plan)

    def on_step(self, record: dict[str, Any]) -> None:
        self.send("on_step", record)

    def on_eval(self, record: dict[str, Any]) -> None:
        self.send("on_eval", record)

    def on_checkpoint(self, step: int, folder: Path) -> None:
        self.send("on_checkpoint", step, folder)

    def on_notice(self, message: str) -> None:
        self.send("on_notice", message)


def train_job(job: Job, pipe: Any) -> None:
    """A run's process: train, then send the outcome (or the error, as one line and a hint). It
    starts with Ctrl-C ignored (see SideBySide._launch) and hears SIGINT once it has said "ready"."""
    if hasattr(os, "setpgrp"):
        os.setpgrp()  # out of the terminal's foreground group: Ctrl-C comes through the parent, once
    observer = PipeObserver(pipe)
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        observer.send("ready")
        from mtp_cli.train import train

        result = train(job.config, resume=job.resume, observer=observer)
        outcome = (result.status, result.step, result.checkpoint, None)
    except MtpError as e:
        outcome = ("failed", None, None, MtpError(e.message, e.hint))
    except KeyboardInterrupt:  # a second Ctrl-C, or one before the training loop: nothing saved now
        outcome = ("interrupted", None, None, None)
    except BaseException as e:  # noqa: BLE001 - the parent reports it; the traceback goes to stderr
        traceback.print_exc()
        outcome = ("failed", None, None, MtpError(f"{type(e).__name__}: {e}"))
    observer.send("outcome", *outcome)
    pipe.close()


def longest_first(jobs: list[Job], cost: Callable[[Job], float]) -> list[Job]:
    """The costliest runs start first, so that a long run does not start last and run alone."""
    return sorted(jobs, key=cost, reverse=True)  # stable: equal costs keep the recipe's order


@dataclass
class Running:
    process: Any
    pipe: Any  # the parent's end; None once it broke
    started: float = field(default_factory=time.perf_counter)
    ready: bool = False  # it hears SIGINT; before, a SIGINT for it waits in signal_owed
    signal_owed: bool = False


class SideBySide:
    """Runs `jobs` in at most `workers` processes, in the given order. Each run's training events go
    to `observer(name)`; `started(job)` and `finished(outcome)` are called as runs start and end."""

    def __init__(self, jobs: list[Job], workers: int, observer: Callable[[str], Any]):
        self.waiting = list(jobs)
        self.workers, self.observer = workers, observer
        self.context = multiprocessing.get_context("spawn")
        self.running: dict[str, Running] = {}
        self.interrupted = False  # by Ctrl-C
        self.asked: set[str] = set()  # runs sent their SIGINT
        self.ctrl_c_pending = False

    def run(self, started: Callable[[Job], None], finished: Callable[[Outcome], None]) -> None:
        with sigint_handler(self._note_ctrl_c):
            try:
                while self.waiting or self.running:
                    if self.ctrl_c_pending:
                        self.ctrl_c_pending = False
                        self.on_ctrl_c()
                    self._launch(started)
                    self._next_events(finished)
                    self._reap_dead(finished)
            finally:
                for run in self.running.values():  # only after an unexpected error here
                    run.process.kill()

    def _note_ctrl_c(self) -> None:
        """Handled between messages by `run`: raised inside a read from a pipe, Ctrl-C would leave
        half a message there."""
        self.ctrl_c_pending = True

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
            run = self.running[name]
            if not run.ready:
                run.signal_owed = True  # sent when it says "ready"; two would arrive as one anyway
            elif run.process.is_alive():
                os.kill(run.process.pid, signal.SIGINT)
            self.asked.add(name)

    def _launch(self, started: Callable[[Job], None]) -> None:
        while self.waiting and len(self.running) < self.workers:
            job = self.waiting.pop(0)
            ours, theirs = self.context.Pipe(duplex=False)
            process = self.context.Process(target=train_job, args=(job, theirs), name=f"mtp-train-{job.name}", daemon=True)
            # Until it leaves the terminal's process group, a Ctrl-C there would hit the new process
            # mid-start-up (an exit with a traceback): it starts with SIGINT ignored. A Ctrl-C in
            # these few milliseconds is lost to the parent too; the next one is heard.
            with sigint_ignored():
                process.start()
            theirs.close()  # the run's process holds the only writing end: it ends when the process does
            self.running[job.name] = Running(process, ours)
            started(job)

    def _next_events(self, finished: Callable[[Outcome], None]) -> None:
        """Every message waiting now, or the first within POLL_SECONDS."""
        pipes = {run.pipe: name for name, run in self.running.items() if run.pipe is not None}
        for pipe in multiprocessing.connection.wait(list(pipes), timeout=POLL_SECONDS):
            name = pipes[pipe]
            try:
                event, args = pipe.recv()
            except Exception:  # noqa: BLE001 - ended (EOFError) or cut mid-message by a dying process
                pipe.close()
                self.running[name].pipe = None  # _reap_dead reports it once its process has ended
                continue
            if event == "ready":
                self._now_ready(name)
            elif event == "outcome":
                finished(self._finish(name, *args))
            else:
                getattr(self.observer(name), event)(*args)

    def _now_ready(self, name: str) -> None:
        run = self.running[name]
        run.ready = True
        if run.signal_owed:
            run.signal_owed = False
            os.kill(run.process.pid, signal.SIGINT)

    def _finish(self, name: str, status: str, step: int | None, checkpoint: Path | None, error: MtpError | None) -> Outcome:
        run = self.running.pop(name)
        run.process.join()
        if run.pipe is not None:
            run.pipe.close()
        return Outcome(name, status, time.perf_counter() - run.started, step, checkpoint, error)

    def _reap_dead(self, finished: Callable[[Outcome], None]) -> None:
        """A run whose pipe ended without its outcome, and whose process has ended, failed (killed,
        out of memory)."""
        for name, run in list(self.running.items()):
            if run.pipe is not None or run.process.exitcode is None:
                continue
            error = MtpError(
                f"its training process ended with exit code {run.process.exitcode} before finishing",
                "a negative code is the signal that killed it (-9: often out of memory); rerun to resume from its last checkpoint",
            )
            finished(self._finish(name, "failed", None, None, error))
