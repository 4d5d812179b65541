"""Rich consoles and the small rendering helpers every command shares."""

from __future__ import annotations

import json
import os
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
        import time

        if self._task is None:
            self._progress.__enter__()

        self._unit, self._counters, self._done, self._started = unit, {}, 0.0, time.perf_counter()
        self._task = self._progress.add_task(name, total=total, amount="", rates="")

    def advance(self, amount: float, **counters: float) -> None:
        import time

        self._done += amount
        for key, value in counters.items():
            self._counters[key] = self._counters.get(key, 0.0) + value
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        if self._unit == "B":
            amount_text = f"{human_bytes(self._done)}  {human_bytes(self._done / elapsed)}/s"
        else:
            amount_text = f"{self._done:,.0f} {self._unit}".rstrip()
        rates = "  ".join(f"{v / elapsed:,.0f} {k}/s" for k, v in self._counters.items())
        self._progress.update(self._task, advance=amount, amount=amount_text, rates=rates)
