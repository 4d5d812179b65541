"""One cached forward of the model, stopped before the unembedding.

Speculative decoding needs head 1's logits at every drafted position but the drafting heads' only at
the last accepted one, which differs per row and is known only after head 1 has verified; so the
forward returns hidden states (`MtpTransformer.hidden_states`) and the caller unembeds what it needs.
"""

from __future__ import annotations

import torch

from mtp_cli.model import KVCache, MtpTransformer


def cached_hidden(model: MtpTransformer, tokens: torch.Tensor, cache: KVCache) -> list[torch.Tensor]:
    """(batch, seq) tokens continuing each row of `cache` -> one (batch, seq, dim) hidden state per
    head the cache serves (before the shared norm and unembedding); the cache advances by seq."""
    _, hidden = model.hidden_states(tokens, cache, heads=[])
    return [hidden[i] for i in range(cache.num_heads)]


def at_positions(hidden: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """(batch, seq, ...) hidden states at one position per row -> (batch, ...)."""
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), positions]
