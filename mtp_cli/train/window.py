"""The window objective: which tokens occur in the next w positions, as a multi-label classification.

At position t the window head gives one logit per vocabulary token; the label of token v is 1 when v
occurs among tokens t+1 .. t+w. The loss is the binary cross-entropy summed over the vocabulary,

    sum_v softplus(x_v) - sum_{v in window} x_v,

which is the dense `binary_cross_entropy_with_logits(x, y, reduction="sum")` without its (rows, vocab)
target tensor y: the first sum needs no labels, the second gathers one logit per distinct token of
the window (at most w per row). Only positions whose whole window lies in the data count.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mtp_cli.train.data import IGNORE


def window_tokens(targets: torch.Tensor, w: int) -> torch.Tensor:
    """(lookahead >= w, batch, seq) shifted targets -> (batch, seq, w): the tokens t+1 .. t+w."""
    return targets[:w].permute(1, 2, 0)


@dataclass
class WindowSums:
    """Sums over the rows seen: the loss, the positions counted, the distinct tokens of their windows,
    and how many of those are among the w largest logits (hits / distinct: the head's recall)."""

    loss: torch.Tensor
    positions: torch.Tensor
    distinct: torch.Tensor
    hits: torch.Tensor


def window_loss(logits: torch.Tensor, tokens: torch.Tensor) -> WindowSums:
    """The summed binary cross-entropy (float32, with a gradient) and the counts of `WindowSums`.

    `logits` (..., vocab), `tokens` (..., w) with IGNORE where the data ends.
    """
    flat_logits = logits.reshape(-1, logits.shape[-1])
    flat_tokens = tokens.reshape(-1, tokens.shape[-1])
    whole = (flat_tokens != IGNORE).all(dim=1)
    x, window = flat_logits[whole], flat_tokens[whole]
    ordered = window.sort(dim=1).values
    distinct = torch.ones_like(ordered, dtype=torch.bool)
    distinct[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    positives = torch.where(distinct, x.gather(1, ordered).float(), 0.0).sum()
    loss = F.softplus(x.float()).sum() - positives
    with torch.no_grad():
        top = x.topk(min(window.shape[1], x.shape[1]), dim=1).indices
        hits = (top[:, :, None] == ordered[:, None, :]).any(dim=1).logical_and(distinct).sum()
    return WindowSums(loss, whole.sum(), distinct.sum(), hits)

