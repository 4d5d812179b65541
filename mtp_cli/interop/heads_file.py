"""The extra heads of an exported model, beside the Hugging Face files: `mtp_heads.json` + `mtp_heads.safetensors`.

`transformers` loads the folder as the next-token model (trunk + head 1). Head k (k = 2..n) is one
more Llama decoder layer (or, for linear heads, one bias-free dim x dim matrix) that reads the trunk's
output, i.e. the input of the model's last decoder layer (`hidden_states[-2]` with
`output_hidden_states=True`); the shared final norm and `lm_head` turn its output into logits for the
token k positions ahead. Tensor names are `extra_heads.{k-2}.` + the decoder layer's own names, in
Hugging Face's rotary layout; the JSON holds mtp's full model config, so `mtp import` restores the
n-head model exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mtp_cli.artifacts import MtpError
from mtp_cli.model import ModelConfig

HEADS_CONFIG_NAME = "mtp_heads.json"
HEADS_WEIGHTS_NAME = "mtp_heads.safetensors"
HEADS_FORMAT = "mtp-extra-heads"
HEADS_FORMAT_VERSION = 1
# What the Hugging Face config fixes of the next-token model, checked against mtp_heads.json's config.
NEXT_TOKEN_FIELDS = ("vocab_size", "dim", "trunk_layers", "n_heads", "kv_heads", "hidden_dim", "norm_eps", "rope_theta", "rope_scaling", "tie_embeddings", "qkv_bias", "out_bias")


def full_config(heads: ModelConfig, next_token: ModelConfig) -> ModelConfig:
    """The n-head config of mtp_heads.json, after checking that its next-token model is the one
    config.json describes."""
    differ = [f for f in NEXT_TOKEN_FIELDS if getattr(heads, f) != getattr(next_token, f)]
    if differ:
        raise MtpError(f"{HEADS_CONFIG_NAME} does not describe this config.json's model (differs in {', '.join(differ)})", "the folder mixes two models")
    return heads


TRUNK_OUTPUT = "the trunk's output: hidden_states[-2] of the Hugging Face model (the last decoder layer's input)"
HEAD_INPUTS = {
    "transformer": TRUNK_OUTPUT,
    "linear": TRUNK_OUTPUT,
    "causal": "head 2 reads head 1's output (the last decoder layer's, before model.norm); head k reads head k-1's",
}


WINDOW_HEAD = (
    "a training objective, unused in decoding: window_head.block.<decoder layer names> reads the trunk's output; "
    "sigmoid(lm_head(model.norm(its output)) + window_head.bias) is each token's probability of occurring in the next window_size positions"
)


def heads_document(config: ModelConfig, tokenizer: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": HEADS_FORMAT,
        "format_version": HEADS_FORMAT_VERSION,
        "n_future_tokens": config.n_future_tokens,
        "head_type": config.head_type,
        "weights": HEADS_WEIGHTS_NAME,
        "input": HEAD_INPUTS[config.head_type],
        "output": "the shared final norm (model.norm) and lm_head; head k predicts the token k positions ahead",
        "tensor_names": "extra_heads.{k-2}.<decoder layer names> in Hugging Face's rotary layout; linear heads: extra_heads.{k-2}.weight",
        "window_head": WINDOW_HEAD if config.window_size else None,
        "model": config.to_dict(),
        "tokenizer": tokenizer,
    }


def read_heads_config(folder: Path) -> ModelConfig | None:
    """The n-head model config of a folder `mtp export` wrote, or None for a plain Hugging Face folder."""
    path = folder / HEADS_CONFIG_NAME
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text())
        if document.get("format") != HEADS_FORMAT:
            raise ValueError
    except ValueError:
        raise MtpError(f"{path} is not an mtp extra-heads file", "remove it, or export the model again") from None
    if document.get("format_version", 0) > HEADS_FORMAT_VERSION:
        raise MtpError(f"{path} was written by a newer mtp", "upgrade mtp")
    if not (folder / HEADS_WEIGHTS_NAME).is_file():
        raise MtpError(f"{path} names {HEADS_WEIGHTS_NAME}, which is missing", "copy the whole exported folder")
    return ModelConfig.from_dict(document["model"])
