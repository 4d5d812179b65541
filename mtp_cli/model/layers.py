"""The transformer block: RMSNorm, rotary positions, causal attention, SwiGLU. No biases anywhere."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mtp_cli.model.cache import CacheStep, LayerKV
from mtp_cli.model.config import ModelConfig


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalize in fp32: under bf16 autocast the mean of squares loses too much precision. The
        # library's rms_norm is one fused kernel on a GPU (seven small ones written out by hand).
        wide = x.to(torch.promote_types(x.dtype, torch.float32))  # float64 stays float64
        normed = F.rms_norm(wide, (x.shape[-1],), eps=self.eps)
        return normed.type_as(x) * self.weight


def rotary_angles(positions: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin for `positions` (any shape), each of shape positions.shape + (head_dim // 2,)."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim)
    angles = positions.float()[..., None] * inv_freq
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive pairs (x0, x1), (x2, x3), ... of x (batch, seq, heads, head_dim).

    cos/sin are (batch or 1, seq, head_dim // 2). Pairs are interleaved as in Llama checkpoints.
    """
    x32 = x.float().unflatten(-1, (-1, 2))
    even, odd = x32[..., 0], x32[..., 1]
    cos, sin = cos[:, :, None, :], sin[:, :, None, :]
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return rotated.flatten(-2).type_as(x)


class Attention(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.n_heads, self.head_dim = config.n_heads, config.head_dim
        self.wq = nn.Linear(config.dim, config.dim, bias=False)
        self.wk = nn.Linear(config.dim, config.dim, bias=False)
        self.wv = nn.Linear(config.dim, config.dim, bias=False)
        self.wo = nn.Linear(config.dim, config.dim, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        kv: LayerKV | None = None,
        step: CacheStep | None = None,
    ) -> torch.Tensor:
        batch, seq, _ = x.shape
        shape = (batch, seq, self.n_heads, self.head_dim)
        q = apply_rotary(self.wq(x).view(shape), *rope)
        k = apply_rotary(self.wk(x).view(shape), *rope)
        v = self.wv(x).view(shape)
        if kv is None:
            out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
        else:
            keys, values = kv.write(k, v, step)
            mask = step.mask.to(q.dtype)  # bf16 under autocast
            out = F.scaled_dot_product_attention(q.transpose(1, 2), keys, values, attn_mask=mask)
        return self.wo(out.transpose(1, 2).reshape(batch, seq, -1))


class FeedForward(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.w1 = nn.Linear(config.dim, config.hidden_dim, bias=False)  # gate
        self.w3 = nn.Linear(config.dim, config.hidden_dim, bias=False)  # up
        self.w2 = nn.Linear(config.hidden_dim, config.dim, bias=False)  # down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.attention_norm = RMSNorm(config.dim, config.norm_eps)
        self.attention = Attention(config)
        self.ffn_norm = RMSNorm(config.dim, config.norm_eps)
        self.feed_forward = FeedForward(config)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        kv: LayerKV | None = None,
        step: CacheStep | None = None,
    ) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), rope, kv, step)
        return x + self.feed_forward(self.ffn_norm(x))
