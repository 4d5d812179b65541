"""`mtp train`: parse options, run `mtp_cli.train.train` under a live display, show a summary.

Under torchrun only rank 0 shows the display and the summary; every rank returns the same status.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.live import Live
from rich.table import Table

from mtp_cli.cli.console import DEFAULT_LOG_EVERY, check_log_every, clock, console, err_console, log_every_option
from mtp_cli.cli.declared import build_command, extra
from mtp_cli.model.config import ModelConfig
from mtp_cli.train.config import TrainConfig

RESUME_AUTO = "--resume-auto"  # what `--resume auto` is parsed as (a flag cannot take a value on every typer)


def run_train(given: dict[str, dict[str, Any]], resume: Optional[bool], resume_auto: bool, log_every: float) -> int:
    from mtp_cli.train import train as run_training
    from mtp_cli.train.run_folder import config_for_resume, holds_run

    options = dict(given["config"])
    if given["model"]:  # the model options join --set's overrides
        options["model_overrides"] = {**options.get("model_overrides", {}), **given["model"]}
    out = options["out"]
    if resume_auto:
        resume = holds_run(out)
    config = config_for_resume(out, options) if resume else TrainConfig(**options)
    main_process = os.environ.get("RANK", "0") == "0"  # torchrun's other ranks stay quiet
    with TrainDisplay(log_every) if main_process else contextlib.nullcontext() as display:
        result = run_training(config, resume=bool(resume), observer=display)
    if not main_process:
        return 130 if result.status == "interrupted" else 0
    console.print(summary_table(result, out))
    if result.status == "interrupted":
        err_console.print(f"[yellow]interrupted[/] at step {result.step}: saved {result.checkpoint}; continue with --resume")
        return 130
    return 0


train = build_command(
    "train",
    {"config": TrainConfig, "model": ModelConfig},
    run_train,
    """Train a transformer with n future-token heads on `mtp tokenize` output.

    \b
    Example:
      mtp train data/mine --out runs/tiny-n4 --preset tiny --heads 4 --steps 600
    """,
    [
        extra("resume", Optional[bool], typer.Option(
            None, "--resume/--no-resume", show_default=False,
            help="Continue the run in --out from its newest complete checkpoint; `--resume auto` starts a new run when "
            "--out holds none (torchrun restarts). Options given now replace the stored ones that only change how it "
            "runs (--no-fsdp, --device, --micro-batch, ...).  [default: no-resume]",
        )),
        extra("resume_auto", bool, typer.Option(False, RESUME_AUTO, hidden=True)),
        log_every_option(),
    ],
)


def spell_resume_auto(args: list[str]) -> list[str]:
    """`mtp train ... --resume auto` as the hidden flag the parser knows."""
    if not args or args[0] != "train":
        return args
    spelled = list(args)
    for i in range(len(spelled) - 1):
        if spelled[i] == "--resume" and spelled[i + 1] == "auto":
            spelled[i : i + 2] = [RESUME_AUTO]
            break
    return spelled




def _losses(values: list[float]) -> str:
    return "  ".join(f"{v:.3f}" for v in values)


def _mfu(value: float | None) -> str:
    return "" if value is None else f"MFU {100 * value:.1f}%"


class TrainDisplay:
    """Live status line while training: step, tokens/s, per-head loss, learning rate, ETA. When stderr
    is not a terminal (SLURM, CI, nohup), a plain line every `log_every` seconds instead."""

    def __init__(self, log_every: float = DEFAULT_LOG_EVERY) -> None:
        self.plain = not err_console.is_terminal
        self.live = None if self.plain else Live(console=err_console, refresh_per_second=4, transient=False)
        self.log_every = check_log_every(log_every)
        self.last_line = float("-inf")
        self.plan: dict[str, Any] = {}
        self.started = time.perf_counter()
        self.step_seconds: float | None = None
        self.last_eval = ""

    def __enter__(self) -> "TrainDisplay":
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def on_start(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        processes = f" x {plan['world_size']} processes" if plan.get("world_size", 1) > 1 else ""
        err_console.print(
            f"training {plan['parameters'] / 1e6:.1f}M parameters, {plan['heads']} head{'s' if plan['heads'] != 1 else ''}, on {plan['device']}{processes}: "
            f"steps {plan['start_step']}..{plan['total_steps']}, {plan['tokens_per_step']:,} tokens per step"
        )
        if not plan.get("validation_rows"):
            err_console.print("[yellow]warning:[/] the data has no validation split: no validation loss will be shown "
                              "(tokenize with --val-fraction or --validation SOURCES)", highlight=False, soft_wrap=True)

    def on_step(self, record: dict[str, Any]) -> None:
        seconds = record["step_seconds"]
        self.step_seconds = seconds if self.step_seconds is None else 0.9 * self.step_seconds + 0.1 * seconds
        remaining = (self.plan["total_steps"] - record["step"]) * self.step_seconds
        if self.plain:
            self.log_step(record, remaining)
            return
        table = Table.grid(padding=(0, 2))
        table.add_row(
            f"[bold]step[/] {record['step']}/{self.plan['total_steps']}",
            f"{record['tokens_per_second']:,.0f} tok/s",
            _mfu(record.get("mfu")),
            f"lr {record['lr']:.2e}",
            f"[bold]loss per head[/] {_losses(record['head_loss'])}",
            f"ETA {time.strftime('%H:%M:%S', time.gmtime(remaining))}",
        )
        if self.last_eval:
            table.add_row("", "", "", "", self.last_eval, "")
        self.live.update(table)

    def log_step(self, record: dict[str, Any], remaining: float) -> None:
        now = time.perf_counter()
        last = record["step"] == self.plan["total_steps"]
        if now - self.last_line < self.log_every and not last:
            return
        self.last_line = now
        mfu = f", {_mfu(record['mfu'])}" if record.get("mfu") is not None else ""
        err_console.print(
            f"{time.strftime('%H:%M:%S')} step {record['step']}/{self.plan['total_steps']}, tokens {record['tokens']:,}, "
            f"loss per head {_losses(record['head_loss'])}, {record['tokens_per_second']:,.0f} tok/s{mfu}, "
            f"lr {record['lr']:.2e}, ETA {clock(remaining)}",
            highlight=False, soft_wrap=True,
        )

    def on_eval(self, record: dict[str, Any]) -> None:
        self.last_eval = f"[bold]validation[/] {_losses(record['head_loss'])} (step {record['step']})"
        if self.plain:
            err_console.print(f"{time.strftime('%H:%M:%S')} step {record['step']}: validation loss per head "
                              f"{_losses(record['head_loss'])}", highlight=False, soft_wrap=True)

    def on_checkpoint(self, step: int, folder: Path) -> None:
        pass

    def on_notice(self, message: str) -> None:
        err_console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


class RunsDisplay:
    """Several trainings at once (`mtp pipeline run --jobs N`): a live table with a row per run. When
    stderr is not a terminal, a plain line per run every `log_every` seconds instead."""

    def __init__(self, runs: list[str], log_every: float = DEFAULT_LOG_EVERY) -> None:
        self.plain = not err_console.is_terminal
        self.live = None if self.plain else Live(console=err_console, refresh_per_second=2, transient=True)
        self.log_every = check_log_every(log_every)
        self.runs = {run: RunRow(run, self) for run in runs}

    def __enter__(self) -> "RunsDisplay":
        if self.live is not None:
            self.live.__enter__()
            self.refresh()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def observer(self, run: str) -> "RunRow":
        return self.runs[run]

    def refresh(self) -> None:
        if self.live is None:
            return
        table = Table(box=None, padding=(0, 2), header_style="bold")
        for column in ("run", "step", "tok/s", "loss per head", "validation", "ETA"):
            table.add_column(column, justify="right" if column in ("step", "tok/s") else "left")
        for row in self.runs.values():
            table.add_row(*row.cells())
        self.live.update(table)


class RunRow:
    """One run's line in a RunsDisplay; the trainer's observer for that run."""

    def __init__(self, name: str, display: RunsDisplay) -> None:
        self.name, self.display = name, display
        self.plan: dict[str, Any] = {}
        self.record: dict[str, Any] = {}
        self.step_seconds: float | None = None
        self.validation = ""
        self.last_line = float("-inf")

    def remaining(self) -> float:
        return (self.plan["total_steps"] - self.record["step"]) * (self.step_seconds or 0.0)

    def cells(self) -> tuple[str, ...]:
        if not self.record:
            return self.name, "starting" if self.plan else "waiting", "", "", "", ""
        r = self.record
        return (self.name, f"{r['step']}/{self.plan['total_steps']}", f"{r['tokens_per_second']:,.0f}",
                _losses(r["head_loss"]), self.validation, clock(self.remaining()))

    def on_start(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        err_console.print(f"{self.name}: training {plan['parameters'] / 1e6:.1f}M parameters, steps "
                          f"{plan['start_step']}..{plan['total_steps']}, {plan['tokens_per_step']:,} tokens per step", highlight=False)
        self.display.refresh()

    def on_step(self, record: dict[str, Any]) -> None:
        seconds = record["step_seconds"]
        self.step_seconds = seconds if self.step_seconds is None else 0.9 * self.step_seconds + 0.1 * seconds
        self.record = record
        self.display.refresh()
        now, last = time.perf_counter(), record["step"] == self.plan["total_steps"]
        if self.display.plain and (now - self.last_line >= self.display.log_every or last):
            self.last_line = now
            err_console.print(f"{time.strftime('%H:%M:%S')} {self.name} step {record['step']}/{self.plan['total_steps']}, "
                              f"loss per head {_losses(record['head_loss'])}, {record['tokens_per_second']:,.0f} tok/s, "
                              f"ETA {clock(self.remaining())}", highlight=False, soft_wrap=True)

    def on_eval(self, record: dict[str, Any]) -> None:
        self.validation = f"{_losses(record['head_loss'])} (step {record['step']})"
        if self.display.plain:
            err_console.print(f"{time.strftime('%H:%M:%S')} {self.name} step {record['step']}: validation loss per head "
                              f"{_losses(record['head_loss'])}", highlight=False, soft_wrap=True)
        self.display.refresh()

    def on_checkpoint(self, step: int, folder: Path) -> None:
        pass

    def on_notice(self, message: str) -> None:
        err_console.print(f"[yellow]warning:[/] {self.name}: {message}", highlight=False, soft_wrap=True)


def summary_table(result, out: Path) -> Table:
    table = Table(title=f"{out}: {result.status} at step {result.step}/{result.total_steps}")
    for column in ("head", "predicts", "train loss", "train top-1", "validation loss", "validation top-1"):
        table.add_column(column, justify="right")
    train, val = result.last_train, result.last_eval
    for k, loss in enumerate(train.get("head_loss", [])):
        table.add_row(
            str(k + 1),
            f"t+{k + 1}",
            f"{loss:.4f}",
            f"{train['head_accuracy'][k]:.3f}",
            f"{val['head_loss'][k]:.4f}" if val else "-",
            f"{val['head_accuracy'][k]:.3f}" if val else "-",
        )
    mfu = f", last step {_mfu(train['mfu'])}" if train.get("mfu") is not None else ""
    table.caption = (
        f"{result.tokens_seen:,} tokens in {result.elapsed_seconds:.1f}s of steps "
        f"({result.tokens_seen / max(result.elapsed_seconds, 1e-9):,.0f} tokens/s{mfu}); checkpoint: {result.checkpoint}"
    )
    return table
