"""`RUN/metrics.jsonl`: one JSON line per optimizer step ("train") and per evaluation ("eval").

Lines carry per-head lists (index 0 is the next-token head). On resume, lines after the restored
checkpoint's step are dropped, so the file always describes one unbroken run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from mtp_cli.artifacts import METRICS_NAME, atomic_write_text
from mtp_cli.artifacts.disk_space import disk_full_as_error



class MetricsLog:
    """`writer=False` (every rank but 0 under torchrun) reads the log but never changes it."""

    def __init__(self, run: Path, writer: bool = True):
        self.path = Path(run) / METRICS_NAME
        self.writer = writer

    def truncate_after(self, step: int) -> None:
        if not self.writer or not self.path.exists():
            return
        kept = [line for line in self.path.read_text().splitlines() if _step_of(line) is not None and _step_of(line) <= step]
        atomic_write_text(self.path, "".join(line + "\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        if not self.writer:
            return
        line = json.dumps(_finite(record)) + "\n"
        with disk_full_as_error(self.path, len(line), "free space on that filesystem, then continue with --resume"):
            with open(self.path, "a") as f:
                f.write(line)

    def read(self, up_to: int | None = None) -> list[dict[str, Any]]:
        """The records, those after step `up_to` left out (as `truncate_after` would drop them)."""
        if not self.path.exists():
            return []
        lines = self.path.read_text().splitlines()
        steps = [_step_of(line) for line in lines]
        return [json.loads(line) for line, step in zip(lines, steps) if step is not None and (up_to is None or step <= up_to)]


def _step_of(line: str) -> int | None:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return None  # a line cut short by a crash


def _finite(value: Any) -> Any:
    """JSON has no NaN: non-finite floats become strings ("nan", "inf")."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value
