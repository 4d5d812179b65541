"""One cached forward of the model, stopped before the unembedding.

`MtpTransformer.forward` unembeds every asked head at the same positions. Speculative decoding needs
head 1 at every drafted position but the drafting heads only at the last accepted one, which differs
per row and is known only after head 1 has verified. So this runs the trunk and every cached head
(keeping their caches complete) from the model's public pieces and leaves the unembedding, the
costliest matmul of a small model with a large vocabulary, to the caller.
"""

from __future__ import annotations

import torch

from mtp_cli.model import KVCache, MtpTransformer
from mtp_cli.model.layers import rotary_angles


def cached_hidden(model: MtpTransformer, tokens: torch.Tensor, cache: KVCache) -> list[torch.Tensor]:
    """(batch, seq) tokens continuing each row of `cache` -> one (batch, seq, dim) hidden state per
    head the cache serves (before the shared norm and unembedding); the cache advances by seq."""
    step = cache.begin(tokens.shape[1])
    rope = rotary_angles(step.positions, model.config.head_dim, model.config.rope_theta)
    trunk = model.trunk(tokens, rope, cache, step)
    hidden = [model.head(i, trunk, rope, cache, step) for i in range(cache.num_heads)]
    cache.commit(tokens.shape[1])
    return hidden


def at_positions(hidden: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """(batch, seq, dim) hidden states at one position per row -> (batch, dim)."""
    index = positions.view(-1, 1, 1).expand(-1, 1, hidden.shape[-1])
    return hidden.gather(1, index).squeeze(1)
