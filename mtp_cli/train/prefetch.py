"""The next step's batch, prepared while this step runs, so the device does not wait on the host.

The sampler stays the one authority on the data position: the trainer takes this step's rows from it
and only *peeks* at the next step's, which a background thread gathers into tensors (in pinned
memory on CUDA, so the copy to the device is asynchronous). The data order, and what a checkpoint
records as the position, are those of loading each batch when its step starts.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import torch

from mtp_cli.tokenize.reader import SplitTokens
from mtp_cli.train.data import load_rows

Batch = tuple[torch.Tensor, torch.Tensor]  # inputs (rows, seq_len), targets (n, rows, seq_len)


class BatchPrefetcher:
    def __init__(self, split: SplitTokens, n: int, device: torch.device):
        self.split, self.n, self.device = split, n, device
        self.pinned = device.type == "cuda"
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mtp-batches")
        self._ahead: tuple[list[int], Future] | None = None

    def get(self, rows: list[int]) -> Batch:
        """The batch of `rows`: the one prepared ahead when it is for these rows, else loaded now."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == rows:
            return ahead[1].result()
        return self._load(rows)

    def prepare(self, rows: list[int]) -> None:
        """Start loading the batch of `rows` (the next step's) in the background."""
        self._ahead = (rows, self._pool.submit(self._load, rows))

    def to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        """A pinned host tensor is copied without blocking the host; it overlaps the queued kernels."""
        return tensor.to(self.device, non_blocking=self.pinned)

    def close(self) -> None:
        self._ahead = None
        self._pool.shutdown(wait=True)

    def _load(self, rows: list[int]) -> Batch:
        inputs, targets = load_rows(self.split, rows, self.n)
        if self.pinned:
            inputs, targets = inputs.pin_memory(), targets.pin_memory()
        return inputs, targets
