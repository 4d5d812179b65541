"""`tokenizer_config.json` beside every `tokenizer.json` mtp writes, so `transformers.AutoTokenizer`
knows its special tokens (bos/eos/pad), as it does for a Hugging Face model folder.

`tokenizer` is the identity mtp records for a tokenizer (`tokenize.vocab.tokenizer_summary`):
its eos/pad/bos tokens and ids. A tokenizer without a BOS starts every text after EOS, so EOS is its BOS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtp_cli.artifacts.atomic import atomic_write_json

TOKENIZER_CONFIG_NAME = "tokenizer_config.json"


def special_tokens(tokenizer: dict[str, Any]) -> dict[str, Any]:
    """bos/eos/pad as Hugging Face names them: `tokens` (the texts) and `ids`."""
    eos = tokenizer.get("eos_token")
    bos_id = tokenizer.get("bos_id")
    ids = {
        "bos_token_id": bos_id if bos_id is not None else tokenizer.get("eos_id"),
        "eos_token_id": tokenizer.get("eos_id"),
        "pad_token_id": tokenizer.get("pad_id"),
    }
    tokens = {"bos_token": tokenizer.get("bos_token") or eos, "eos_token": eos, "pad_token": tokenizer.get("pad_token")}
    return {"tokens": tokens, "ids": ids}


def tokenizer_config(tokenizer: dict[str, Any], context: int | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"tokenizer_class": "PreTrainedTokenizerFast", **special_tokens(tokenizer)["tokens"]}
    if context is not None:
        config["model_max_length"] = context
    config["clean_up_tokenization_spaces"] = False
    return config


def write_tokenizer_config(folder: Path, tokenizer: dict[str, Any], context: int | None = None) -> None:
    atomic_write_json(Path(folder) / TOKENIZER_CONFIG_NAME, tokenizer_config(tokenizer, context))
