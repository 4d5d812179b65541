"""Tiny random Hugging Face models of every supported architecture, built locally with `transformers`
(`from_config` + `save_pretrained`, no downloads), and a tokenizer for them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
from tokenizers import processors

from mtp_cli.tokenize.vocab import bytes_tokenizer

VOCAB = 300  # the bytes tokenizer's 258 tokens + a BOS, padded as real models pad their embeddings
BOS = "<s>"

# Each architecture with what makes it different; "bos": its tokenizer puts <s> before every text.
ARCHITECTURES = {
    "llama-gqa-llama3-rope": dict(
        model_type="llama", bos=True, hidden_size=64, num_attention_heads=8, num_key_value_heads=2, rope_theta=50000.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 32},
    ),
    "qwen2-biases": dict(model_type="qwen2", bos=False, hidden_size=64, num_attention_heads=4, num_key_value_heads=2, rope_theta=1000000.0, use_sliding_window=False),
    "mistral-window": dict(model_type="mistral", bos=True, hidden_size=64, num_attention_heads=4, num_key_value_heads=4, sliding_window=96),
    "smollm-tied": dict(
        model_type="llama", bos=False, hidden_size=72, num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True,
        rope_scaling={"rope_type": "linear", "factor": 2.0},
    ),
}


def tokenizer_json(with_bos: bool) -> str:
    tokenizer = bytes_tokenizer()  # ids 0-255 bytes, 256 <|endoftext|>, 257 <|pad|>
    if with_bos:
        tokenizer.add_special_tokens([BOS])  # id 258
        tokenizer.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, 258)])
    return tokenizer.to_str()


def build_hf_model(name: str, folder: Path, seed: int = 0, **changes):
    """Save a random model of architecture `name` (config fields changed by `changes`) with its
    tokenizer into `folder`; return the model."""
    from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast
    from tokenizers import Tokenizer

    settings = {"max_position_embeddings": 256, **ARCHITECTURES[name], **changes}
    model_type, with_bos = settings.pop("model_type"), settings.pop("bos")
    config = AutoConfig.for_model(
        model_type, vocab_size=VOCAB, intermediate_size=96, num_hidden_layers=4,
        rms_norm_eps=1e-6, bos_token_id=258 if with_bos else 256, eos_token_id=256, pad_token_id=257, **settings,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    with torch.no_grad():  # biases and norms start at 0 and 1: make them random so that every mapping shows
        for param_name, param in model.named_parameters():
            if param_name.endswith("bias"):
                param.normal_(std=0.5)
            elif param.dim() == 1:
                param.uniform_(0.5, 1.5)
            else:
                param.normal_(std=0.08)  # logits with a clear top token: no near-ties in greedy decoding
    model.save_pretrained(folder)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(tokenizer_json(with_bos)),
        bos_token=BOS if with_bos else None, eos_token="<|endoftext|>", pad_token="<|pad|>",
    )
    tokenizer.save_pretrained(folder)
    return model


class Memo:
    """Values made on first use, one per key: session fixtures that any test order reuses."""

    def __init__(self, make: Callable[[str], Any]):
        self.make, self.made = make, {}

    def __call__(self, key: str) -> Any:
        if key not in self.made:
            self.made[key] = self.make(key)
        return self.made[key]
