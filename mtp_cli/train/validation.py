"""Per-head validation loss and accuracy on the first rows of the validation split."""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch

from mtp_cli.model import MtpTransformer
from mtp_cli.tokenize.reader import SplitTokens
from mtp_cli.train.data import load_rows
from mtp_cli.train.objective import HeadSums, head_loss, lookahead
from mtp_cli.train.window import window_loss, window_tokens


@torch.no_grad()
def validate(
    model: MtpTransformer,
    split: SplitTokens,
    max_tokens: int,
    micro_batch: int,
    device: torch.device,
    autocast: AbstractContextManager,
) -> HeadSums:
    n = model.n_future_tokens
    rows = list(range(min(len(split), max(1, max_tokens // split.seq_len))))
    sums = HeadSums.zeros(n)
    was_training = model.training
    model.eval()
    for start in range(0, len(rows), micro_batch):
        inputs, targets = load_rows(split, rows[start : start + micro_batch], lookahead(model.config))
        inputs, targets = inputs.to(device), targets.to(device)
        with autocast:
            h = model.trunk(inputs)
            hidden = model.run_heads(h, list(range(n)))
            for k in range(n):
                sums.add(k, *head_loss(model.unembed(hidden[k]), targets[k]))
            if model.window_head is not None:
                sums.add_window(window_loss(model.window_logits(h), window_tokens(targets, model.config.window_size)))
    model.train(was_training)
    return sums
