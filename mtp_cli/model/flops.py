"""Training FLOPs per token, counted from the config (matrix multiplies only)."""

from __future__ import annotations

from mtp_cli.model.config import ModelConfig


def block_forward_flops(config: ModelConfig, seq_len: int) -> float:
    weights = 4 * config.dim * config.dim + 3 * config.dim * config.hidden_dim
    # Scores and weighted sum over, on average, half the context under the causal mask.
    attention = 2 * seq_len * config.dim
    return 2 * weights + attention


def train_flops_per_token(config: ModelConfig, seq_len: int) -> float:
    """Forward + backward (3x forward) for the trunk once and every head with its own unembedding."""
    block = block_forward_flops(config, seq_len)
    extra_head = block if config.block_heads else 2 * config.dim * config.dim
    unembedding = 2 * config.dim * config.vocab_size
    forward = config.trunk_layers * block + block + (config.n_future_tokens - 1) * extra_head
    forward += config.n_future_tokens * unembedding
    if config.window_size:
        forward += block + unembedding
    return 3 * forward
