"""How the training loop reports to whoever watches (the CLI's live display, a test, nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol


class TrainObserver(Protocol):
    def on_start(self, plan: dict[str, Any]) -> None:
        """Before the first step: the resolved plan (steps, start step, tokens per step, heads, ...)."""

    def on_step(self, record: dict[str, Any]) -> None:
        """After each optimizer step: the metrics.jsonl "train" record."""

    def on_eval(self, record: dict[str, Any]) -> None:
        """After each validation pass: the metrics.jsonl "eval" record."""

    def on_checkpoint(self, step: int, folder: Path) -> None:
        """After a checkpoint folder is in place."""

    def on_notice(self, message: str) -> None:
        """Something the user should read once, e.g. a damaged checkpoint that resuming skipped."""


class NullObserver:
    def on_start(self, plan: dict[str, Any]) -> None:
        pass

    def on_step(self, record: dict[str, Any]) -> None:
        pass

    def on_eval(self, record: dict[str, Any]) -> None:
        pass

    def on_checkpoint(self, step: int, folder: Path) -> None:
        pass

    def on_notice(self, message: str) -> None:
        pass
