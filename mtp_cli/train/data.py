"""Batches of rows with n shifted targets, read from memory-mapped shards; its position is state.

Head k (1-based) at position t predicts token t + k of the stream. The rows are stored in stream
order, so near a row's end those targets are the first tokens of the next row (`SplitTokens.window`);
past the split's real tokens (its padded tail) there is nothing to predict and the target is IGNORE.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from mtp_cli.tokenize.reader import SplitTokens

IGNORE = -100  # target value that no loss or accuracy counts (torch's cross-entropy default)


def window_targets(window: np.ndarray, real: int, seq_len: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (seq_len,) and targets (n, seq_len) from a row plus its n-token look-ahead."""
    inputs = window[:seq_len]
    targets = np.full((n, seq_len), IGNORE, dtype=np.int64)
    for k in range(1, n + 1):
        valid = max(0, min(seq_len, real - k))  # positions t with t + k < real
        targets[k - 1, :valid] = window[k : k + valid]
    return inputs, targets


def load_rows(split: SplitTokens, rows: list[int], n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (rows, seq_len) and targets (n, rows, seq_len) as int64 tensors."""
    pairs = [window_targets(*split.window(row, n), split.seq_len, n) for row in rows]
    inputs = torch.from_numpy(np.stack([p[0] for p in pairs]))
    targets = torch.from_numpy(np.stack([p[1] for p in pairs], axis=1))
    return inputs, targets


class RowSampler:
    """Row indices in a fresh seeded shuffle each epoch; (epoch, cursor) is the whole position."""

    def __init__(self, num_rows: int, seed: int):
        self.num_rows, self.seed = num_rows, seed
        self.epoch, self.cursor = 0, 0
        self._order = self._shuffle(0)

    def _shuffle(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_rows)

    def take(self, count: int) -> list[int]:
        rows: list[int] = []
        while len(rows) < count:
            if self.cursor == self.num_rows:
                self.epoch, self.cursor = self.epoch + 1, 0
                self._order = self._shuffle(self.epoch)
            chunk = self._order[self.cursor : self.cursor + count - len(rows)]
            rows += chunk.tolist()
            self.cursor += len(chunk)
        return rows

    def peek(self, count: int) -> list[int]:
        """The rows `take(count)` would give, without moving the position."""
        ahead = copy.copy(self)
        return ahead.take(count)

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "cursor": self.cursor, "seed": self.seed, "num_rows": self.num_rows}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["num_rows"] != self.num_rows or state["seed"] != self.seed:
            raise ValueError("sampler state is for another split or seed")
        self.epoch, self.cursor = state["epoch"], state["cursor"]
        self._order = self._shuffle(self.epoch)


def micro_batches(inputs: torch.Tensor, targets: torch.Tensor, size: int):
    """Split a step's rows into forward/backward chunks of at most `size` rows."""
    for start in range(0, inputs.shape[0], size):
        yield inputs[start : start + size], targets[:, start : start + size]
