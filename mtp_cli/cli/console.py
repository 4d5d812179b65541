"""Rich consoles and the small rendering helpers every command shares."""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from rich.console import Console
from rich.table import Table

# Rich wraps at 80 columns when the output is not a terminal; a file or a pipe gets whole table rows.
UNWRAPPED_WIDTH = 240


def _console(stderr: bool) -> Console:
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, width=UNWRAPPED_WIDTH)
    return console


console = _console(stderr=False)
err_console = _console(stderr=True)


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested manifest fields as (dotted key, short text) rows; long lists are summarized."""
    if isinstance(value, dict) and value:
        rows: list[tuple[str, str]] = []
        for key, item in value.items():
            rows += flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return rows
    if isinstance(value, list) and len(value) > 8:
        return [(prefix, f"{len(value)} items, first: {_short(value[0], 90)}")]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [(f"{prefix}[{i}]", _short(v)) for i, v in enumerate(value)]
    return [(prefix, _short(value))]


def key_value_table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("field", style="cyan", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in rows:
        table.add_row(key, value)
    return table


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


DEFAULT_LOG_EVERY = 30.0  # seconds between plain progress lines when stderr is not a terminal


def log_every_option() -> Any:
    """`--log-every`, the one option of how progress shows that every long command takes."""
    import inspect

    import typer

    info = typer.Option(
        DEFAULT_LOG_EVERY, "--log-every", show_default=False, metavar="SECONDS",
        help=f"Seconds between plain progress lines when stderr is not a terminal (SLURM, CI, nohup).  [default: {DEFAULT_LOG_EVERY:g}]",
    )
    return inspect.Parameter("log_every", inspect.Parameter.KEYWORD_ONLY, default=info, annotation=float)


def check_log_every(seconds: float) -> float:
    if not seconds > 0:
        from mtp_cli.artifacts import MtpError

        raise MtpError(f"--log-every must be a positive number of seconds, got {seconds}", "the default is 30")
    return seconds


def clock(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(max(seconds, 0)))


def amount_text(done: float, unit: str, elapsed: float) -> str:
    if unit == "B":
        return f"{human_bytes(done)}  {human_bytes(done / elapsed)}/s"
    return f"{done:,.0f} {unit}".rstrip()


def rates_text(counters: dict[str, float], elapsed: float) -> str:
    return "  ".join(f"{v / elapsed:,.0f} {k}/s" for k, v in counters.items())


class PlainProgress:
    """A ProgressSink for logs (SLURM, CI, nohup): one plain line every `every` seconds, whether or not
    work was reported since (a phase of unknown length, such as BPE merges, still shows it is alive)."""

    def __init__(self, every: float = DEFAULT_LOG_EVERY) -> None:
        self.every = check_log_every(every)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._name: str | None = None
        self._total: float | None = None
        self._unit = ""
        self._done = 0.0
        self._counters: dict[str, float] = {}
        self._started = 0.0

    def __enter__(self) -> "PlainProgress":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if exc_type is None and self._name is not None:
            self.log_line()

    def phase(self, name: str, total: float | None, unit: str = "") -> None:
        if self._name is not None:
            self.log_line()  # the end of the phase before
        with self._lock:
            self._name, self._total, self._unit = name, total, unit
            self._done, self._counters, self._started = 0.0, {}, time.perf_counter()
        if self._thread is None:
            self._thread = threading.Thread(target=self._tick, daemon=True, name="mtp-progress-log")
            self._thread.start()

    def advance(self, amount: float, **counters: float) -> None:
        with self._lock:
            self._done += amount
            for key, value in counters.items():
                self._counters[key] = self._counters.get(key, 0.0) + value

    def _tick(self) -> None:
        while not self._stop.wait(self.every):
            self.log_line()

    def line(self) -> str:
        with self._lock:
            elapsed = max(time.perf_counter() - self._started, 1e-9)
            parts = [f"{time.strftime('%H:%M:%S')} {self._name}:"]
            if self._total:
                total = human_bytes(self._total) if self._unit == "B" else f"{self._total:,.0f}"
                parts.append(f"{amount_text(self._done, self._unit, elapsed)} of {total} ({100 * self._done / self._total:.0f}%)")
            elif self._done:
                parts.append(amount_text(self._done, self._unit, elapsed))
            if self._unit not in ("B", "") and self._done:
                parts.append(f"{self._done / elapsed:,.1f} {self._unit}/s")
            parts += [f"{v:,.0f} {k} ({v / elapsed:,.0f} {k}/s)" for k, v in self._counters.items()]
            parts.append(f"elapsed {clock(elapsed)}")
            if self._total and self._done:
                parts.append(f"ETA {clock(elapsed * (self._total - self._done) / self._done)}")
        return parts[0] + " " + ", ".join(parts[1:])

    def log_line(self) -> None:
        err_console.print(self.line(), highlight=False, soft_wrap=True)


def progress_display(log_every: float = DEFAULT_LOG_EVERY) -> "RichProgress | PlainProgress":
    """A live bar on a terminal; plain lines every `log_every` seconds in a log file or a pipe."""
    check_log_every(log_every)
    return RichProgress() if err_console.is_terminal else PlainProgress(log_every)


class RichProgress:
    """A ProgressSink drawn with rich: one bar per phase, with throughput of the extra counters."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._bytes_columns = (DownloadColumn(), TransferSpeedColumn())
        self._count_columns = (MofNCompleteColumn(),)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[amount]}"),
            TextColumn("{task.fields[rates]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=False,
        )
        self._task = None
        self._unit = ""
        self._counters: dict[str, float] = {}
        self._done = 0.0
        self._started = 0.0

    def __enter__(self) -> "RichProgress":
        return self  # the display starts with the first phase: a step refused before any work prints no frame

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._task is None:
            return
        self._progress.live.transient = exc_type is not None  # on failure only the error line remains
        self._progress.__exit__(exc_type, exc, tb)

    def phase(self, name: str, total: float | None, unit: str = "") -> None:
        if self._task is None:
            self._progress.__enter__()

        self._unit, self._counters, self._done, self._started = unit, {}, 0.0, time.perf_counter()
        self._task = self._progress.add_task(name, total=total, amount="", rates="")

    def advance(self, amount: float, **counters: float) -> None:
        self._done += amount
        for key, value in counters.items():
            self._counters[key] = self._counters.get(key, 0.0) + value
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        text = amount_text(self._done, self._unit, elapsed)
        self._progress.update(self._task, advance=amount, amount=text, rates=rates_text(self._counters, elapsed))
