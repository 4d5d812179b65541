"""One cached forward of the model, stopped before the unembedding, and the unembedding for decoding.

Speculative decoding needs head 1's logits at every drafted position but the drafting heads' only at
the last accepted one, which differs per row and is known only after head 1 has verified; so the
forward returns hidden states (`MtpTransformer.hidden_states`) and the caller unembeds what it needs.
"""

from __future__ import annotations

import torch

from mtp_cli.model import KVCache, MtpTransformer


def cached_forward(model: MtpTransformer, tokens: torch.Tensor, cache: KVCache) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(batch, seq) tokens continuing each row of `cache` -> the (batch, seq, dim) trunk output and one
    (batch, seq, dim) hidden state per head the cache serves (before the shared norm and unembedding);
    the cache advances by seq."""
    trunk, hidden = model.hidden_states(tokens, cache, heads=[])
    return trunk, [hidden[i] for i in range(cache.num_heads)]


def cached_hidden(model: MtpTransformer, tokens: torch.Tensor, cache: KVCache) -> list[torch.Tensor]:
    """`cached_forward` without the trunk output."""
    return cached_forward(model, tokens, cache)[1]


def at_positions(hidden: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """(batch, seq, ...) hidden states at one position per row -> (batch, ...)."""
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), positions]


def decode_logits(model: MtpTransformer, hidden: torch.Tensor) -> torch.Tensor:
    """`model.unembed(hidden)` for decoding: float32 logits of (..., dim) hidden states, every mode and
    every row through the same product, so greedy and speculative decoding see the same numbers."""
    return (model.norm(hidden) @ unembedding_matrix(model)).float()


def unembedding_matrix(model: MtpTransformer) -> torch.Tensor:
    """The unembedding as a (dim, vocab) matrix. On a CPU it is a contiguous copy, made once per
    version of the weights: MKL multiplies a few rows by it faster than by the (vocab, dim) layout
    training keeps (one thread, 32k x 128, out of cache: 0.91 against 1.32 ms for 4 rows, 1.03
    against 1.57 for 7). A GPU's matrix products read either layout alike."""
    weight = model.output.weight
    if weight.device.type != "cpu":
        return weight.t()
    version = 0 if weight.is_inference() else weight._version  # bumped by every in-place update
    kept = getattr(model, "_decoding_unembedding", None)
    if kept is None or kept[0] is not weight or kept[1] != version:
        with torch.no_grad():
            kept = (weight, version, weight.t().contiguous())
        model._decoding_unembedding = kept  # a plain attribute: not a parameter, not saved
    return kept[2]
