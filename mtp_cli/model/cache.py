"""Key/value cache for incremental decoding, one per trunk block and one per cached head block.

Every row of a batch has its own length, so rows can accept different numbers of drafted tokens and
roll back independently (self-speculative decoding). New tokens of row b are written at positions
`lengths[b], lengths[b] + 1, ...`; a query at position p sees the keys at positions <= p of its own
row, so whatever lies beyond a row's length (rolled back drafts, padding) is never attended to.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mtp_cli.artifacts import MtpError


@dataclass
class CacheStep:
    """Where one forward call writes and what it may read, shared by every cached block."""

    positions: torch.Tensor  # (batch, seq) absolute positions of the new tokens
    kv_len: int  # keys to read: max over rows of length + seq
    mask: torch.Tensor  # (batch, 1, seq, kv_len) float32: 0 where a query may attend, -inf elsewhere


class LayerKV:
    """One block's keys and values, (batch, max_len, heads, head_dim), allocated on first write
    with the dtype and device of the keys (so bf16 under autocast, fp32 otherwise)."""

    def __init__(self, batch_size: int, max_len: int):
        self.batch_size, self.max_len = batch_size, max_len
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    def write(self, k: torch.Tensor, v: torch.Tensor, step: CacheStep) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new (batch, seq, heads, head_dim) keys/values; return (batch, heads, kv_len, head_dim) views."""
        if self.k is None:
            shape = (self.batch_size, self.max_len, *k.shape[2:])
            self.k = torch.zeros(shape, dtype=k.dtype, device=k.device)
            self.v = torch.zeros(shape, dtype=v.dtype, device=v.device)
        rows = torch.arange(k.shape[0], device=k.device)[:, None]
        self.k[rows, step.positions] = k.to(self.k.dtype)
        self.v[rows, step.positions] = v.to(self.v.dtype)
        return self.k[:, : step.kv_len].transpose(1, 2), self.v[:, : step.kv_len].transpose(1, 2)


class KVCache:
    """The cache of a whole model: `trunk[i]` for trunk block i, `heads[j]` for head j+1's block
    (None for linear heads). Make one with `MtpTransformer.new_cache`."""

    def __init__(self, batch_size: int, max_len: int, trunk_blocks: int, head_is_block: list[bool], device: torch.device):
        self.batch_size, self.max_len = batch_size, max_len
        self.trunk = [LayerKV(batch_size, max_len) for _ in range(trunk_blocks)]
        self.heads = [LayerKV(batch_size, max_len) if is_block else None for is_block in head_is_block]
        self.lengths = torch.zeros(batch_size, dtype=torch.long, device=device)

    @property
    def num_heads(self) -> int:
        """How many leading heads this cache serves (heads 1..num_heads)."""
        return len(self.heads)

    @property
    def length(self) -> int:
        """The common length of all rows; an error when rows differ (use `lengths`)."""
        if bool((self.lengths != self.lengths[0]).any()):
            raise ValueError("rows have different lengths; read KVCache.lengths")
        return int(self.lengths[0])

    def begin(self, seq_len: int) -> CacheStep:
        """Plan a forward of `seq_len` new tokens per row (called by the model)."""
        offsets = torch.arange(seq_len, device=self.lengths.device)
        positions = self.lengths[:, None] + offsets
        kv_len = int(self.lengths.max()) + seq_len
        if kv_len > self.max_len:
            raise MtpError(f"the KV cache holds {self.max_len} positions; this forward needs {kv_len}")
        keys = torch.arange(kv_len, device=self.lengths.device)
        allowed = (keys[None, None, :] <= positions[:, :, None])[:, None]
        # Additive, made once per forward: a boolean mask is turned into this by every block's attention.
        mask = torch.zeros(allowed.shape, device=allowed.device).masked_fill_(~allowed, float("-inf"))
        return CacheStep(positions=positions, kv_len=kv_len, mask=mask)

    def commit(self, seq_len: int) -> None:
        self.lengths += seq_len

    def rewind(self, steps: torch.Tensor) -> None:
        """Roll each row back by steps[b] positions, at most the last forward's length (unchecked:
        no host sync, for decoding loops whose steps are right by construction)."""
        self.lengths = self.lengths - steps

    def truncate(self, lengths: int | torch.Tensor) -> None:
        """Roll rows back to `lengths` (an int for every row, or one per row); never grows a row."""
        new = torch.as_tensor(lengths, dtype=torch.long, device=self.lengths.device).expand(self.batch_size)
        if bool((new > self.lengths).any()) or bool((new < 0).any()):
            raise ValueError(f"truncate to {new.tolist()} outside 0..{self.lengths.tolist()}")
        self.lengths = new.clone()
