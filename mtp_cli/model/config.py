"""The model's shape: one dataclass, named presets, and `field=value` overrides.

Layer accounting follows the method's released model code: with transformer heads, `n_layers` counts
every block of the model. The trunk is the first `n_layers - n` blocks and each of the n heads is one
block (head 1 included), so at equal `n_layers` an n=1 and an n=4 model have the same parameter count,
but the next-token path (trunk + head 1) is `n_layers - n + 1` blocks: 6 for `tiny` at n=1, 3 at n=4.
`extra_heads_on_top` keeps the n=1 model whole (a trunk of `n_layers - 1` blocks plus head 1, so
`n_layers` on the next-token path) and adds the n - 1 extra head blocks on top, as in the paper's
"+3 layers" variant; linear heads cost no block, so they always sit on top of that same trunk.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, fields
from typing import Any

from mtp_cli.artifacts import MtpError

HEAD_TYPES = ("transformer", "linear", "causal", "anticausal")
# How each head type feeds its heads (App. B of the method's paper). Parallel heads all read the
# trunk's output. Causal heads form a chain from the trunk: head 1, then head 2 on head 1's output, and
# so on. Anticausal heads form the reverse chain: head n reads the trunk, head n-1 reads head n's
# output, ..., and head 1, the next-token head, sits on top of all of them.
CHAINED_HEAD_TYPES = ("causal", "anticausal")


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int = 32768
    dim: int = 128
    n_layers: int = 6  # every block, trunk + n heads (extra heads on top or linear: trunk + head 1); see above
    n_heads: int = 4  # attention heads per block
    n_kv_heads: int | None = None  # grouped-query attention: key/value heads (None: n_heads)
    ffn_dim: int | None = None  # SwiGLU hidden size; None: 8/3 * dim rounded up to `multiple_of`
    multiple_of: int = 256
    max_seq_len: int = 2048  # the context the model is trained for; checked against the data
    rope_theta: float = 10000.0
    rope_scaling: dict[str, Any] | None = None  # {"rope_type": "linear" | "llama3", "factor": ..., ...}
    norm_eps: float = 1e-5
    n_future_tokens: int = 4  # n: the number of prediction heads; head k predicts the token k ahead
    head_type: str = "transformer"  # transformer | linear | causal | anticausal (see HEAD_TYPES; head 1 is always a block)
    extra_heads_on_top: bool = False
    tie_embeddings: bool = False
    qkv_bias: bool = False  # biases on the query/key/value projections (Qwen2)
    out_bias: bool = False  # a bias on the attention output projection (Llama's attention_bias)
    init_std: float = 0.02
    window_size: int = 0  # w > 0: one more block trained to tell which tokens occur in the next w positions

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.head_type not in HEAD_TYPES:
            raise MtpError(f"head_type {self.head_type!r} is not one of {', '.join(HEAD_TYPES)}")
        for name in ("vocab_size", "dim", "n_layers", "n_heads", "max_seq_len", "n_future_tokens"):
            if getattr(self, name) < 1:
                raise MtpError(f"model {name} must be at least 1, got {getattr(self, name)}")
        if self.dim % self.n_heads or (self.dim // self.n_heads) % 2:
            raise MtpError(
                f"dim {self.dim} must split into {self.n_heads} attention heads of an even size",
                "change dim or n_heads",
            )
        if self.n_heads % self.kv_heads:
            raise MtpError(f"n_kv_heads {self.kv_heads} must divide n_heads {self.n_heads}", "change n_kv_heads")
        check_rope_scaling(self.rope_scaling)
        if not 0 <= self.window_size <= self.max_seq_len:
            raise MtpError(f"window_size {self.window_size} must lie in 0..max_seq_len ({self.max_seq_len})", "use e.g. --window-loss 4, 8 or 16")
        if self.extra_heads_on_top and self.head_type in CHAINED_HEAD_TYPES:
            raise MtpError(f"{self.head_type} heads already stack on each other; --heads-on-top applies to parallel heads", "drop --heads-on-top")
        if self.trunk_layers < 0 or (self.trunk_layers == 0 and self.n_layers > 1):
            raise MtpError(
                f"{self.n_layers} layers leave no trunk for {self.n_future_tokens} heads",
                "use more layers (--set n_layers=N), fewer --heads, or --heads-on-top",
            )

    @property
    def kv_heads(self) -> int:
        return self.n_heads if self.n_kv_heads is None else self.n_kv_heads

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def hidden_dim(self) -> int:
        if self.ffn_dim is not None:
            return self.ffn_dim
        hidden = int(2 * 4 * self.dim / 3)
        return self.multiple_of * ((hidden + self.multiple_of - 1) // self.multiple_of)

    @property
    def block_heads(self) -> bool:
        """Whether every head is a transformer block (all types but linear)."""
        return self.head_type != "linear"

    @property
    def chained_heads(self) -> bool:
        return self.head_type in CHAINED_HEAD_TYPES

    @property
    def trunk_layers(self) -> int:
        """Shared blocks before the heads."""
        if self.extra_heads_on_top or self.head_type == "linear":
            return self.n_layers - 1
        return self.n_layers - self.n_future_tokens

    @property
    def total_blocks(self) -> int:
        """Transformer blocks of the trunk and the heads (the window head, a training aid, not counted)."""
        extra = self.n_future_tokens - 1 if self.block_heads else 0
        return self.trunk_layers + 1 + extra

    def with_heads(self, n: int, head_type: str | None = None) -> "ModelConfig":
        """The same trunk and head 1 with n heads (of another type if given): what fine-tuning with a
        different `--heads` or `--head-type` builds."""
        head_type = head_type or self.head_type
        n_layers = self.trunk_layers + (n if head_type != "linear" else 1)
        return dataclasses.replace(self, n_future_tokens=n, n_layers=n_layers, head_type=head_type, extra_heads_on_top=False)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise MtpError(f"unknown model config fields: {', '.join(unknown)}", "was it written by a newer mtp?")
        return cls(**data)


ROPE_SCALING_KEYS = {
    "linear": {"factor"},
    "llama3": {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"},
}


def check_rope_scaling(scaling: dict[str, Any] | None) -> None:
    if scaling is None:
        return
    kind = scaling.get("rope_type")
    if kind not in ROPE_SCALING_KEYS:
        raise MtpError(f"rope_scaling type {kind!r} is not supported", f"supported: {', '.join(ROPE_SCALING_KEYS)}")
    missing = ROPE_SCALING_KEYS[kind] - set(scaling)
    if missing:
        raise MtpError(f"rope_scaling of type {kind} lacks {', '.join(sorted(missing))}")


PRESETS: dict[str, dict[str, Any]] = {
    # Parameter counts are for the shipped 32k vocabulary, untied, n=4 (equal for any n).
    "tiny": dict(dim=128, n_layers=6, n_heads=4),  # 1.6M non-embedding, 10M total: minutes on 2 CPU cores
    "small": dict(dim=512, n_layers=8, n_heads=8),  # 27M non-embedding (the paper's "30M"), 61M total
    "base": dict(dim=768, n_layers=12, n_heads=12),  # 85M non-embedding, 135M total (GPT-2 small class)
    "1b": dict(dim=2048, n_layers=16, n_heads=16, max_seq_len=4096),  # 0.82B non-embedding, 0.96B total
    # The published 7B code models: dim 4096, 32 layers, 32 heads, SwiGLU 11008, context 4096.
    "7b": dict(dim=4096, n_layers=32, n_heads=32, ffn_dim=11008, max_seq_len=4096),
}


def parse_override(text: str) -> tuple[str, Any]:
    """`field=value` with the value converted to the field's type."""
    name, sep, raw = text.partition("=")
    name = name.strip().replace("-", "_")
    types = {f.name: f.type for f in fields(ModelConfig)}
    if not sep or name not in types:
        raise MtpError(f"--set {text!r} is not FIELD=VALUE for a model field", f"fields: {', '.join(types)}")
    kind = str(types[name])
    raw = raw.strip()
    try:
        if "bool" in kind:
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return name, raw.lower() in ("true", "1", "yes")
        if raw.lower() in ("none", "null") and "None" in kind:
            return name, None
        if "dict" in kind:
            value = json.loads(raw)
            if not isinstance(value, dict):
                raise ValueError
            return name, value
        if "int" in kind:
            return name, int(raw)
        if "float" in kind:
            return name, float(raw)
        return name, raw
    except ValueError:  # json.JSONDecodeError included
        raise MtpError(f"--set {text!r}: {raw!r} is not a valid {kind}") from None


def build_config(preset: str = "tiny", overrides: dict[str, Any] | None = None) -> ModelConfig:
    if preset not in PRESETS:
        raise MtpError(f"unknown preset {preset!r}", f"choose one of {', '.join(PRESETS)}")
    known = {f.name for f in fields(ModelConfig)}
    for name in overrides or {}:
        if name not in known:
            raise MtpError(f"model override {name!r} is not a model field", f"fields: {', '.join(sorted(known))}")
    return ModelConfig(**{**PRESETS[preset], **(overrides or {})})
