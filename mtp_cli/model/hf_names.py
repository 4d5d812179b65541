"""Where mtp's tensors live in a Hugging Face Llama-family model: their names, and the rotary row order.

mtp keeps the layout of the method's released checkpoints (Meta's Llama names, rotary dimensions
paired as (0, 1), (2, 3), ...). Hugging Face stores the query and key projections with their rows
permuted so that its rotary code can pair dimension i with i + head_dim / 2; `to_interleaved` and
`to_half_split` move rows between the two layouts, so a conversion is exact in both directions.
"""

from __future__ import annotations

import torch

from mtp_cli.model.config import ModelConfig

# A transformer block's tensors: mtp's name -> Hugging Face's name inside one decoder layer.
BLOCK_NAMES = {
    "attention_norm.weight": "input_layernorm.weight",
    "attention.wq.weight": "self_attn.q_proj.weight",
    "attention.wq.bias": "self_attn.q_proj.bias",
    "attention.wk.weight": "self_attn.k_proj.weight",
    "attention.wk.bias": "self_attn.k_proj.bias",
    "attention.wv.weight": "self_attn.v_proj.weight",
    "attention.wv.bias": "self_attn.v_proj.bias",
    "attention.wo.weight": "self_attn.o_proj.weight",
    "attention.wo.bias": "self_attn.o_proj.bias",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "feed_forward.w1.weight": "mlp.gate_proj.weight",
    "feed_forward.w3.weight": "mlp.up_proj.weight",
    "feed_forward.w2.weight": "mlp.down_proj.weight",
}
TOP_NAMES = {"tok_embeddings.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight", "output.weight": "lm_head.weight"}


# mtp tensors that go beside the Hugging Face model, in mtp_heads.safetensors, under their own group name.
HEADS_FILE_GROUPS = ("extra_heads", "window_head")


def in_heads_file(mtp_name: str) -> bool:
    return mtp_name.split(".", 1)[0] in HEADS_FILE_GROUPS


def hf_name(mtp_name: str) -> str:
    """The Hugging Face name of an mtp tensor: the next-token model's (trunk blocks, head 1, norm,
    embeddings, unembedding) under `model.`, the extra and window heads' under their own group with
    the same block names."""
    if mtp_name in TOP_NAMES:
        return TOP_NAMES[mtp_name]
    if mtp_name.count(".") < 2:
        return mtp_name  # the window head's bias
    group, index, rest = mtp_name.split(".", 2)
    prefix = f"{group}." if group in HEADS_FILE_GROUPS else "model.layers."
    if rest not in BLOCK_NAMES:
        return f"{prefix}{index}.{rest}"  # a linear extra head's "weight"
    return f"{prefix}{index}.{BLOCK_NAMES[rest]}"


def rotary_heads(mtp_name: str, config: ModelConfig) -> int | None:
    """How many rotary heads a tensor's rows hold (queries: n_heads, keys: kv_heads), else None."""
    if ".attention.wq." in f".{mtp_name}":
        return config.n_heads
    if ".attention.wk." in f".{mtp_name}":
        return config.kv_heads
    return None


def to_interleaved(t: torch.Tensor, heads: int) -> torch.Tensor:
    """Rows of each head from Hugging Face's half-split rotary layout to Meta's interleaved one."""
    rows = t.shape[0]
    return t.reshape(heads, 2, rows // heads // 2, *t.shape[1:]).transpose(1, 2).reshape(t.shape)


def to_half_split(t: torch.Tensor, heads: int) -> torch.Tensor:
    """The inverse of `to_interleaved`."""
    rows = t.shape[0]
    return t.reshape(heads, rows // heads // 2, 2, *t.shape[1:]).transpose(1, 2).reshape(t.shape)
