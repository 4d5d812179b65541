"""Hugging Face Llama-family models in mtp's terms: their config.json (tensor names and rotary
layout: `mtp_cli.model.hf_names`)."""

from __future__ import annotations

from typing import Any

import torch

from mtp_cli.artifacts import MtpError
from mtp_cli.model import ModelConfig

SUPPORTED_MODEL_TYPES = {
    "llama": "Llama 1/2/3 (incl. grouped-query attention, rope_scaling linear/llama3, SmolLM-style tied embeddings)",
    "mistral": "Mistral (context capped at its sliding window, where windowed attention equals full attention)",
    "qwen2": "Qwen2 / Qwen2.5 (q/k/v biases)",
}
SUPPORTED_LINE = "llama, mistral, qwen2"

# ---- config.json -----------------------------------------------------------------------------


def _rope(hf: dict[str, Any]) -> tuple[float, dict[str, Any] | None]:
    """rope_theta and mtp's rope_scaling from either spelling: transformers 4's rope_theta +
    rope_scaling, or transformers 5's rope_parameters."""
    parameters = dict(hf.get("rope_parameters") or {})
    theta = float(hf.get("rope_theta") or parameters.pop("rope_theta", None) or 10000.0)
    scaling = dict(hf.get("rope_scaling") or parameters)
    scaling.pop("rope_theta", None)
    kind = scaling.pop("rope_type", None) or scaling.pop("type", None)
    if kind in (None, "default"):
        return theta, None
    if kind not in ("linear", "llama3"):
        raise MtpError(f"rope_scaling of type {kind!r} is not supported", "supported: linear, llama3")
    keep = ("factor",) if kind == "linear" else ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")
    return theta, {"rope_type": kind, **{k: scaling[k] for k in keep if k in scaling}}


def _biases(hf: dict[str, Any], model_type: str) -> tuple[bool, bool]:
    if hf.get("mlp_bias"):
        raise MtpError("this model has biases in its feed-forward layers (mlp_bias), which mtp does not support")
    if model_type == "qwen2":
        return True, False
    attention_bias = bool(hf.get("attention_bias", False))
    return attention_bias, attention_bias


def _context(hf: dict[str, Any], model_type: str) -> int:
    """The context mtp runs the model at: Mistral's and Qwen2's sliding window attends to every earlier
    token as long as the sequence fits in the window, so the context is capped there."""
    context = int(hf.get("max_position_embeddings") or 2048)
    window = hf.get("sliding_window")
    uses_window = model_type == "mistral" or (model_type == "qwen2" and hf.get("use_sliding_window"))
    if uses_window and window is not None and int(window) < context:
        return int(window)
    return context


def config_from_hf(hf: dict[str, Any]) -> ModelConfig:
    """mtp's ModelConfig (n = 1) of a Hugging Face config.json; one clear error for what mtp cannot run."""
    model_type = hf.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise MtpError(f"model_type {model_type!r} is not supported by mtp import", f"supported: {SUPPORTED_LINE}")
    act = hf.get("hidden_act", "silu")
    if act != "silu":
        raise MtpError(f"hidden_act {act!r} is not supported", "mtp runs SwiGLU feed-forward layers (silu)")
    dim, heads = int(hf["hidden_size"]), int(hf["num_attention_heads"])
    head_dim = hf.get("head_dim")
    if head_dim is not None and int(head_dim) != dim // heads:
        raise MtpError(f"head_dim {head_dim} differs from hidden_size / num_attention_heads ({dim // heads})", "mtp does not support such models")
    theta, scaling = _rope(hf)
    qkv_bias, out_bias = _biases(hf, model_type)
    return ModelConfig(
        vocab_size=int(hf["vocab_size"]),
        dim=dim,
        n_layers=int(hf["num_hidden_layers"]),
        n_heads=heads,
        n_kv_heads=int(hf.get("num_key_value_heads") or heads),
        ffn_dim=int(hf["intermediate_size"]),
        max_seq_len=_context(hf, model_type),
        rope_theta=theta,
        rope_scaling=scaling,
        norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
        n_future_tokens=1,
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
        qkv_bias=qkv_bias,
        out_bias=out_bias,
    )


def hf_config(config: ModelConfig, token_ids: dict[str, int | None], dtype: torch.dtype) -> dict[str, Any]:
    """A Hugging Face config.json for mtp's next-token model (trunk + head 1)."""
    qwen = config.qkv_bias and not config.out_bias
    model_type = "qwen2" if qwen else "llama"
    hf: dict[str, Any] = {
        "architectures": ["Qwen2ForCausalLM" if qwen else "LlamaForCausalLM"],
        "model_type": model_type,
        "vocab_size": config.vocab_size,
        "hidden_size": config.dim,
        "intermediate_size": config.hidden_dim,
        "num_hidden_layers": config.trunk_layers + 1,
        "num_attention_heads": config.n_heads,
        "num_key_value_heads": config.kv_heads,
        "head_dim": config.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": config.max_seq_len,
        "rms_norm_eps": config.norm_eps,
        "rope_theta": config.rope_theta,
        "rope_scaling": dict(config.rope_scaling) if config.rope_scaling else None,
        "tie_word_embeddings": config.tie_embeddings,
        "torch_dtype": str(dtype).removeprefix("torch."),
        **token_ids,
    }
    if qwen:
        hf.update(use_sliding_window=False, sliding_window=None)
    else:
        hf.update(attention_bias=config.out_bias, mlp_bias=False)
    return hf
