"""The transformer block: RMSNorm, rotary positions, causal (grouped-query) attention, SwiGLU.

Biases exist only where an imported architecture has them (Qwen2's q/k/v, Llama's attention_bias)."""

from __future__ import annotations

import math

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


def inverse_frequencies(config: ModelConfig) -> torch.Tensor:
    """The rotary frequency of each pair of a head's dimensions, with `config.rope_scaling` applied.
    Computed on the CPU whatever the default device (on the meta device arange imports torch._dynamo)."""
    head_dim = config.head_dim
    inv_freq = 1.0 / config.rope_theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device="cpu") / head_dim)
    scaling = config.rope_scaling
    if scaling is None:
        return inv_freq
    factor = float(scaling["factor"])
    if scaling["rope_type"] == "linear":
        return inv_freq / factor
    # llama3: long wavelengths slowed by `factor`, short ones kept, a smooth blend in between.
    context = float(scaling["original_max_position_embeddings"])
    low, high = float(scaling["low_freq_factor"]), float(scaling["high_freq_factor"])
    wavelength = 2 * math.pi / inv_freq
    scaled = torch.where(wavelength > context / low, inv_freq / factor, inv_freq)
    smooth = (context / wavelength - low) / (high - low)
    blended = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelength >= context / high) & (wavelength <= context / low)
    return torch.where(medium, blended, scaled)


def rotary_angles(positions: torch.Tensor, inv_freq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin for `positions` (any shape), each of shape positions.shape + (len(inv_freq),)."""
    angles = positions.float()[..., None] * inv_freq.to(positions.device, torch.float32)
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
        self.n_heads, self.kv_heads, self.head_dim = config.n_heads, config.kv_heads, config.head_dim
        kv_dim = config.kv_heads * config.head_dim
        self.wq = nn.Linear(config.dim, config.dim, bias=config.qkv_bias)
        self.wk = nn.Linear(config.dim, kv_dim, bias=config.qkv_bias)
        self.wv = nn.Linear(config.dim, kv_dim, bias=config.qkv_bias)
        self.wo = nn.Linear(config.dim, config.dim, bias=config.out_bias)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        kv: LayerKV | None = None,
        step: CacheStep | None = None,
    ) -> torch.Tensor:
        batch, seq, _ = x.shape
        q = apply_rotary(self.wq(x).view(batch, seq, self.n_heads, self.head_dim), *rope)
        k = apply_rotary(self.wk(x).view(batch, seq, self.kv_heads, self.head_dim), *rope)
        v = self.wv(x).view(batch, seq, self.kv_heads, self.head_dim)
        if kv is None:
            keys, values = self._shared_kv(k.transpose(1, 2)), self._shared_kv(v.transpose(1, 2))
            out = F.scaled_dot_product_attention(q.transpose(1, 2), keys, values, is_causal=True)
        else:
            keys, values = kv.write(k, v, step)  # the cache keeps only the kv_heads
            mask = step.mask.to(q.dtype)  # bf16 under autocast
            out = F.scaled_dot_product_attention(q.transpose(1, 2), self._shared_kv(keys), self._shared_kv(values), attn_mask=mask)
        return self.wo(out.transpose(1, 2).reshape(batch, seq, -1))


    def _shared_kv(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, kv_heads, seq, head_dim) -> (batch, n_heads, seq, head_dim): each key/value head
        serves n_heads / kv_heads consecutive query heads."""
        repeat = self.n_heads // self.kv_heads
        return x if repeat == 1 else x.repeat_interleave(repeat, dim=1)


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
