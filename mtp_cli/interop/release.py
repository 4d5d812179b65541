"""The method's released checkpoints (`7B_200B_4`, `7B_1T_4`, ...): Meta's Llama layout plus extra heads.

A release folder holds `params.json` (Llama's ModelArgs, with `n_future_tokens`), one
`consolidated.NN.pth` per model-parallel rank, and a SentencePiece `tokenizer.model` (beside the
weights or one folder up, as in the published repository). Tensor names are mtp's own: `layers.*`
(the trunk, then head 1), `extra_heads.*` (heads 2..n), `norm`, `output`, `tok_embeddings`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mtp_cli.artifacts import MtpError
from mtp_cli.interop.tensors import TensorSource
from mtp_cli.model import ModelConfig

PARAMS_NAME = "params.json"
RELEASE_CONTEXT = 4096  # the released models' training context (the paper's Table S13)
# Llama 3.1's `use_scaled_rope`, as its reference code fixes it.
LLAMA31_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}


def is_release_folder(folder: Path) -> bool:
    return (folder / PARAMS_NAME).is_file() and any(folder.glob("consolidated.*.pth"))


def shard_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("consolidated.*.pth"))


def parallel_dim(name: str) -> int | None:
    """Along which dimension Meta's model-parallel layers split a tensor across ranks."""
    if name.endswith("tok_embeddings.weight"):
        return 1  # ParallelEmbedding splits the embedding dimension
    if name.endswith(("attention.wo.weight", "feed_forward.w2.weight")):
        return 1  # RowParallelLinear
    if name.endswith(("attention.wq.weight", "attention.wk.weight", "attention.wv.weight", "feed_forward.w1.weight", "feed_forward.w3.weight", "output.weight")):
        return 0  # ColumnParallelLinear
    return None  # norms are replicated


def read_params(folder: Path) -> dict[str, Any]:
    try:
        params = json.loads((folder / PARAMS_NAME).read_text())
    except (OSError, ValueError):
        raise MtpError(f"{folder / PARAMS_NAME} is not readable JSON", "the release folder is damaged") from None
    missing = [k for k in ("dim", "n_layers", "n_heads") if k not in params]
    if missing:
        raise MtpError(f"{folder / PARAMS_NAME} lacks {', '.join(missing)}", "is this a Llama-format params.json?")
    return params


def release_config(params: dict[str, Any], source: TensorSource) -> ModelConfig:
    """The model's config from params.json and the weights' shapes (vocabulary and SwiGLU width)."""
    vocab_size, dim = source.info("tok_embeddings.weight").shape
    heads = int(params.get("n_future_tokens", 1))
    return ModelConfig(
        vocab_size=vocab_size,
        dim=int(params["dim"]),
        n_layers=int(params["n_layers"]),
        n_heads=int(params["n_heads"]),
        n_kv_heads=params.get("n_kv_heads"),
        ffn_dim=source.info("layers.0.feed_forward.w1.weight").shape[0],
        max_seq_len=int(params.get("max_seq_len", RELEASE_CONTEXT)),
        rope_theta=float(params.get("rope_theta", 10000.0)),
        rope_scaling=dict(LLAMA31_SCALING) if params.get("use_scaled_rope") else None,
        norm_eps=float(params.get("norm_eps", 1e-5)),
        n_future_tokens=heads,
        tie_embeddings=False,
    )


def find_tokenizer_model(folder: Path, given: Path | None) -> Path:
    candidates = [given] if given is not None else [folder / "tokenizer.model", folder.parent / "tokenizer.model"]
    for path in candidates:
        if path.is_file():
            return path
    raise MtpError(f"no tokenizer.model in {folder} or its parent folder", "pass --tokenizer PATH/tokenizer.model")
