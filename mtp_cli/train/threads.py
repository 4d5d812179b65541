"""Torch's thread count for training on the CPU.

Torch's default, one thread per physical core, is the fastest when the cores are the run's alone.
When other processes keep them busy, every parallel region waits for its descheduled threads: on a
shared 2-core machine a train step took 3-8x longer with 2 threads than with 1 (BENCHMARKS.md,
bench/train.py). The count is therefore a setting; it is not derived from the machine's load, because
a different count can change float sums in the last bits, and a resumed run should match.
"""

from __future__ import annotations

import torch


def set_threads(threads: int | None = None) -> int:
    """Use `threads` torch threads (None: torch's default, one per physical core); returns the count."""
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)
    return torch.get_num_threads()
