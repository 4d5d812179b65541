"""The config.json of models users pick (as published) maps onto the model they describe: the parameter
count mtp builds matches the published one, and the shapes that matter are carried over."""

from __future__ import annotations

import pytest
import torch

from mtp_cli.interop.hf_layout import config_from_hf
from mtp_cli.model import MtpTransformer

CONFIGS = {
    "Qwen2.5-Coder-0.5B": (dict(
        model_type="qwen2", hidden_act="silu", hidden_size=896, intermediate_size=4864, max_position_embeddings=32768,
        max_window_layers=24, num_attention_heads=14, num_hidden_layers=24, num_key_value_heads=2, rms_norm_eps=1e-6,
        rope_theta=1000000.0, sliding_window=32768, tie_word_embeddings=True, use_sliding_window=False, vocab_size=151936,
    ), 494.0e6),
    "Llama-3.2-1B": (dict(
        model_type="llama", hidden_act="silu", hidden_size=2048, intermediate_size=8192, max_position_embeddings=131072,
        num_attention_heads=32, num_hidden_layers=16, num_key_value_heads=8, rms_norm_eps=1e-5, rope_theta=500000.0,
        rope_scaling={"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        tie_word_embeddings=True, vocab_size=128256, attention_bias=False, mlp_bias=False, head_dim=64,
    ), 1.2358e9),
    "SmolLM2-135M": (dict(
        model_type="llama", hidden_act="silu", hidden_size=576, intermediate_size=1536, max_position_embeddings=8192,
        num_attention_heads=9, num_hidden_layers=30, num_key_value_heads=3, rms_norm_eps=1e-5, rope_theta=100000,
        tie_word_embeddings=True, vocab_size=49152,
    ), 134.5e6),
    "Mistral-7B-v0.1": (dict(
        model_type="mistral", hidden_act="silu", hidden_size=4096, intermediate_size=14336, max_position_embeddings=32768,
        num_attention_heads=32, num_hidden_layers=32, num_key_value_heads=8, rms_norm_eps=1e-5, rope_theta=10000.0,
        sliding_window=4096, tie_word_embeddings=False, vocab_size=32000,
    ), 7.2416e9),
    "CodeLlama-7b": (dict(
        model_type="llama", hidden_act="silu", hidden_size=4096, intermediate_size=11008, max_position_embeddings=16384,
        num_attention_heads=32, num_hidden_layers=32, num_key_value_heads=32, rms_norm_eps=1e-5, rope_theta=1000000,
        tie_word_embeddings=False, vocab_size=32016,
    ), 6.7384e9),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_published_configs_build_the_published_model(name):
    hf, parameters = CONFIGS[name]
    config = config_from_hf(hf)
    with torch.device("meta"):
        model = MtpTransformer(config)
    assert model.num_params() == pytest.approx(parameters, rel=0.002)
    assert config.kv_heads == hf["num_key_value_heads"] and config.n_layers == hf["num_hidden_layers"]
    assert config.tie_embeddings == hf["tie_word_embeddings"] and config.n_future_tokens == 1
    assert config.qkv_bias == (hf["model_type"] == "qwen2")
