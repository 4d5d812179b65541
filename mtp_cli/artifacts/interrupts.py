"""Ctrl-C handled by the program instead of raised where it lands.

A KeyboardInterrupt raised in the middle of a training step or of a read from a pipe leaves the work
half done; a handler that only notes the request lets the program act on it at a safe point.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator


@contextmanager
def sigint_handler(handler: Callable[[], None]) -> Iterator[None]:
    """While inside, SIGINT calls `handler()` (which may raise KeyboardInterrupt itself); the previous
    handler comes back on leaving. Only the main thread receives signals: elsewhere nothing changes."""
    with _sigint_disposition(lambda signum, frame: handler()):
        yield


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """While inside, SIGINT is ignored, and a process spawned inside starts with it ignored too (an
    ignored signal is the one disposition that survives exec). A Ctrl-C meanwhile is lost."""
    with _sigint_disposition(signal.SIG_IGN):
        yield


@contextmanager
def _sigint_disposition(disposition: Any) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, disposition)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
