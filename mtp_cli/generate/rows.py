"""A batch of rows being decoded: their prompts going in, their tokens and statistics coming out."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from mtp_cli.generate.forward import at_positions, cached_forward
from mtp_cli.generate.stopping import StopChecker
from mtp_cli.model import KVCache, MtpTransformer


@dataclass
class RowResult:
    tokens: list[int]  # the new tokens (EOS included when it ended the row)
    forwards: int  # forward passes the row took part in, the prefill included
    accepted: list[int]  # per drafting head (heads 2, 3, ...): accepted drafts the row kept
    drafted: int  # verification steps, i.e. tokens each drafting head proposed
    seconds: float  # from the batch's start to the row's end


@dataclass
class RowTracker:
    """Collects each row's tokens on the host and notices when a row ends (one host sync a step)."""

    checker: StopChecker
    draft_heads: int = 0
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        n = len(self.checker.limits)
        self.tokens: list[list[int]] = [[] for _ in range(n)]
        self.active = [True] * n
        self.forwards = [0] * n
        self.accepted = [[0] * self.draft_heads for _ in range(n)]
        self.drafted = [0] * n
        self.seconds = [0.0] * n
        self.mask: torch.Tensor | None = None  # `active` as a tensor, rebuilt when a row ends

    def take(self, new_tokens: list[list[int]], accepted: list[int] | None = None) -> bool:
        """Record one forward's new tokens per row; True once every row has ended. With `accepted`
        (a verification step), a row's tokens are its accepted drafts followed by head 1's token."""
        for row, tokens in enumerate(new_tokens):
            if not self.active[row]:
                continue
            self.forwards[row] += 1
            keep = self.checker.feed(row, tokens)
            kept = len(tokens) if keep is None else keep
            if accepted is not None:
                # Only the drafts the completion keeps count: a limit, stop sequence or EOS may end
                # the row inside the accepted drafts.
                self.drafted[row] += 1
                for head in range(min(accepted[row], kept)):
                    self.accepted[row][head] += 1
            self.tokens[row] += tokens[:kept]
            if keep is not None:
                self.active[row] = False
                self.mask = None
                self.seconds[row] = time.perf_counter() - self.started
        return not any(self.active)

    def active_mask(self, device: torch.device) -> torch.Tensor:
        """(rows,) long: 1 while a row goes on, 0 once it has ended."""
        if self.mask is None:
            self.mask = torch.tensor(self.active, dtype=torch.long, device=device)
        return self.mask

    def results(self) -> list[RowResult]:
        return [
            RowResult(self.tokens[i], self.forwards[i], self.accepted[i], self.drafted[i], self.seconds[i])
            for i in range(len(self.tokens))
        ]


def prefill(
    model: MtpTransformer, prompts: list[list[int]], heads: int, room: int
) -> tuple[KVCache, list[torch.Tensor], torch.Tensor]:
    """Right-pad and run the prompts; return the cache (rows at their own lengths), each cached head's
    (batch, dim) hidden state at its row's last prompt token, and the trunk's output there. `room`:
    positions to keep free after the longest prompt."""
    device = model.tok_embeddings.weight.device
    lengths = torch.tensor([len(p) for p in prompts], device=device)
    width = max(len(p) for p in prompts)
    padded = torch.zeros(len(prompts), width, dtype=torch.long)
    for row, prompt in enumerate(prompts):
        padded[row, : len(prompt)] = torch.tensor(prompt)
    cache = model.new_cache(len(prompts), width + room, heads=heads)
    trunk, hidden = cached_forward(model, padded.to(device), cache)
    cache.truncate(lengths)
    return cache, [at_positions(h, lengths - 1) for h in hidden], at_positions(trunk, lengths - 1)
