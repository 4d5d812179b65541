"""Torch's intra-op thread count for work on the CPU, the same rule for every command.

Torch's own default, one thread per physical core, only pays when the cores are the run's alone.
With more threads than idle cores every parallel region waits for its descheduled threads: on 2
shared cores a quickstart training step took 3-7x longer with 2 threads than with 1, and decoding,
one row at a time, 14-30x longer (BENCHMARKS.md, "Thread defaults", bench/threads.py). Decoding
gains little from a second thread even on idle cores; training does (a quickstart step took 0.82 s
on 2 idle threads, against about 1.8 s on 1). The default is 1 thread, so that a run on a shared
machine degrades by its share of the cores rather than several-fold; `--threads 0` (one per
physical core) is for cores of your own. The count is a setting rather than derived
from the machine's load, because a different count can change float sums in the last bits, and a
resumed run should match.
"""

from __future__ import annotations

import torch

DEFAULT_THREADS = 1
ONE_PER_CORE = torch.get_num_threads()  # torch's own default, read before anything changes it


def set_threads(threads: int | None = None) -> int:
    """Use `threads` torch threads (None: DEFAULT_THREADS; 0: one per physical core); returns the count."""
    count = DEFAULT_THREADS if threads is None else threads
    if count < 0:
        raise ValueError(f"threads must be 0 (one per core) or more, got {threads}")
    torch.set_num_threads(count or ONE_PER_CORE)
    return torch.get_num_threads()
