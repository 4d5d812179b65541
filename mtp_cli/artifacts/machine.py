"""What this machine offers a step: the CPUs it may use."""

from __future__ import annotations

import os


def default_workers() -> int:
    """Worker processes or threads by default: the CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
