"""How long-running steps report progress without knowing about the terminal."""

from __future__ import annotations

from typing import Protocol


class ProgressSink(Protocol):
    def phase(self, name: str, total: float | None, unit: str = "") -> None:
        """Start a new phase of work with a known total (or None when unknown)."""

    def advance(self, amount: float, **counters: float) -> None:
        """Report `amount` more work done; counters (tokens=..., etc.) are running extras."""


class NullProgress:
    def phase(self, name: str, total: float | None, unit: str = "") -> None:
        pass

    def advance(self, amount: float, **counters: float) -> None:
        pass
