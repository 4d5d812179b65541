"""Model files in a checkpoint folder, and loading them back without the trainer.

A checkpoint folder holds `model.safetensors` (Llama-style names; a tied unembedding is stored once,
as `tok_embeddings.weight`), `mtp_config.json` (`{"model": ModelConfig fields, "tokenizer": identity,
...}`), `tokenizer.json` (a copy, so generation needs nothing else) with `tokenizer_config.json`
(its special tokens, for `transformers.AutoTokenizer`) and `manifest.json` (kind "checkpoint",
written last). The trainer adds its own state files beside them. A checkpoint `mtp import` made from
a Hugging Face model keeps that model's own safetensors files instead of `model.safetensors` in mtp's
names (`hf_weights`); `read_weights` hides the difference.

The config is not called `config.json`: `transformers` reads that name as a Hugging Face model's
config (with a `model_type`). Checkpoints written before the rename keep theirs and still load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from mtp_cli.artifacts import MtpError, atomic_write_json, atomic_write_text, read_manifest, sha256_bytes, sha256_file
from mtp_cli.artifacts.hf_tokenizer import write_tokenizer_config
from mtp_cli.artifacts.integrity import files_problem, safetensors_header_problem
from mtp_cli.model.config import ModelConfig
from mtp_cli.model.hf_weights import files_problem as linked_files_problem
from mtp_cli.model.hf_weights import iter_hf_weights, weights_layout
from mtp_cli.model.sharded import SHARDED_STATE_NAME, is_sharded, read_sharded_weights
from mtp_cli.model.transformer import TIED_NAME, MtpTransformer

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "mtp_config.json"
OLD_CONFIG_NAME = "config.json"  # checkpoints written before mtp_config.json
TOKENIZER_NAME = "tokenizer.json"
LATEST_NAME = "latest"


def load_tensors(model: MtpTransformer, tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
    """Copy checkpoint tensors into `model`'s weights, one at a time: given an iterator (`iter_weights`),
    no more than one checkpoint tensor is in memory beside the model."""
    targets = model.state_dict()  # views of the model's own weights
    loaded = set()
    with torch.no_grad():
        for name, tensor in tensors:
            target = targets.get(name)
            if target is None or target.shape != tensor.shape:
                _misfit([], [name] if target is None else [f"{name} {list(tensor.shape)} for {list(target.shape)}"])
            target.copy_(tensor)
            loaded.add(name)
    missing = [name for name in targets if name not in loaded and not (model.config.tie_embeddings and name == TIED_NAME)]
    if missing:
        _misfit(missing, [])


def _misfit(missing: list[str], unexpected: list[str]) -> None:
    raise MtpError(
        f"checkpoint weights do not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})",
        f"the checkpoint is damaged or its {CONFIG_NAME} was edited",
    )


def write_model_files(
    folder: Path,
    model: MtpTransformer,
    tokenizer_json: str,
    tokenizer: dict[str, Any],
    state: dict[str, torch.Tensor] | None = None,
    **extra: Any,
) -> None:
    """Weights, config and tokenizer into `folder` (the caller stages the folder and writes the manifest).

    `state` replaces the model's own state dict, e.g. the full weights gathered from sharded processes.
    """
    write_weights(folder, model.config, model.state_dict() if state is None else state)
    write_model_config(folder, model.config, tokenizer_json, tokenizer, **extra)


def write_weights(folder: Path, config: ModelConfig, state: dict[str, torch.Tensor]) -> None:
    """`model.safetensors`: `state` as contiguous CPU tensors, a tied unembedding once."""
    tensors = {name: t.detach().to("cpu").contiguous() for name, t in state.items()}
    if config.tie_embeddings:
        tensors.pop(TIED_NAME)
    save_file(tensors, str(folder / WEIGHTS_NAME), metadata={"format": "pt"})


def write_model_config(folder: Path, config: ModelConfig, tokenizer_json: str, tokenizer: dict[str, Any], **extra: Any) -> None:
    """Config and tokenizer: every checkpoint's files but the weights."""
    atomic_write_text(folder / TOKENIZER_NAME, tokenizer_json)
    write_tokenizer_config(folder, tokenizer, config.max_seq_len)
    atomic_write_json(folder / CONFIG_NAME, {"model": config.to_dict(), "tokenizer": tokenizer, **extra})


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder from itself, a run folder, or a run's checkpoints folder (via `latest`)."""
    path = Path(path)
    for pointer in (path / "checkpoints" / LATEST_NAME, path / LATEST_NAME):
        if pointer.is_file():
            return pointer.parent / pointer.read_text().strip()
    if (path / "checkpoints").is_dir() or path.name == "checkpoints":
        raise MtpError(f"{path} has no checkpoint yet", "train longer than --save-every steps, or point at a step folder")
    return path


def config_path(folder: Path) -> Path:
    """The folder's mtp config: mtp_config.json, or config.json in a checkpoint written before it."""
    path = folder / CONFIG_NAME
    return path if path.is_file() or not (folder / OLD_CONFIG_NAME).is_file() else folder / OLD_CONFIG_NAME


def read_checkpoint_config(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """The checked folder and its mtp config, without loading weights."""
    folder = resolve_checkpoint(path)
    read_manifest(folder, "checkpoint")
    config = config_path(folder)
    try:
        return folder, json.loads(config.read_text())
    except (OSError, ValueError):
        raise MtpError(f"{config} is missing or not JSON", "the checkpoint is damaged") from None


DAMAGED_HINT = "point at an earlier step folder; `mtp train --resume` skips damaged checkpoints"


def is_finite(tensor: torch.Tensor) -> bool:
    """No NaN and no infinity in `tensor`. Its smallest and largest values tell (a NaN makes both NaN):
    29x faster than `isfinite().all()` on bfloat16 weights (1.24B of them: 0.31 s against 8.8 s)."""
    if not tensor.is_floating_point() or tensor.numel() == 0:
        return True
    low, high = torch.aminmax(tensor.detach())
    return bool(torch.isfinite(low)) and bool(torch.isfinite(high))


def first_non_finite(tensors: dict[str, torch.Tensor]) -> str | None:
    """The name of the first floating-point tensor holding a NaN or an infinity."""
    return next((name for name, tensor in tensors.items() if not is_finite(tensor)), None)


def _weights_layout(folder: Path) -> dict[str, Any] | None:
    try:
        return weights_layout(json.loads(config_path(folder).read_text()))
    except (OSError, ValueError):
        raise MtpError(f"{config_path(folder)} is missing or not JSON", "the checkpoint is damaged") from None


def check_model_files(folder: Path) -> None:
    """Sizes against the manifest and the weights' safetensors header: a truncated or half-copied
    checkpoint is refused before any weight is read. (`mtp train --resume` also checks sha256.)"""
    entries = read_manifest(folder, "checkpoint").get("files")
    problem = files_problem(folder, entries, hashes=False) if entries else None
    layout = _weights_layout(folder)
    if problem is None and layout is not None:
        problem = linked_files_problem(folder, layout, entries or [])
        if problem:
            raise MtpError(f"{folder} cannot be loaded: {problem}", "import the model again: mtp import SRC --out CKPT --overwrite")
    elif problem is None and not is_sharded(folder):
        problem = safetensors_header_problem(folder / WEIGHTS_NAME)
    if problem:
        raise MtpError(f"{folder} is not a complete mtp checkpoint: {problem}", DAMAGED_HINT)


def iter_weights(folder: Path) -> Iterator[tuple[str, torch.Tensor]]:
    """The checkpoint's weights one at a time, by name, checked: whole files, finite values. A sharded
    checkpoint is consolidated on the fly (in memory)."""
    check_model_files(folder)
    layout = _weights_layout(folder)
    if layout is not None:
        config = ModelConfig.from_dict(json.loads(config_path(folder).read_text())["model"])
        pairs = iter_hf_weights(folder, config, layout)
    elif is_sharded(folder):
        pairs = iter(read_sharded_weights(folder).items())
    else:
        pairs = _iter_safetensors(folder / WEIGHTS_NAME)
    for name, tensor in pairs:
        if not is_finite(tensor):
            raise MtpError(f"{folder} is damaged: its weight {name} holds non-finite values (NaN or inf)", DAMAGED_HINT)
        yield name, tensor


def _iter_safetensors(path: Path) -> Iterator[tuple[str, torch.Tensor]]:
    with safe_open(str(path), "pt") as f:
        for name in f.keys():
            yield name, f.get_tensor(name)


def read_weights(folder: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """All of `iter_weights` at once, on `device`."""
    return {name: tensor.to(device) for name, tensor in iter_weights(folder)}


def weights_sha256(folder: Path) -> str:
    """One hash of the weights, whatever the layout: the file's; for a sharded checkpoint the hash of
    its manifest's list of shard hashes; for Hugging Face files, their hashes' (one file: its own)."""
    layout = _weights_layout(folder)
    if layout is not None:
        hashes = [(e["path"], sha256_file(folder / e["path"])) for e in layout["files"]]
        return hashes[0][1] if len(hashes) == 1 else listing_sha256(hashes)
    if not is_sharded(folder):
        return sha256_file(folder / WEIGHTS_NAME)
    entries = read_manifest(folder, "checkpoint").get("files", [])
    return listing_sha256([(e["path"], e["sha256"]) for e in entries if e["path"].startswith(SHARDED_STATE_NAME + "/")])


def listing_sha256(hashes: list[tuple[str, str]]) -> str:
    """One hash for several files: the sha256 of their "path sha256" lines."""
    return sha256_bytes("".join(f"{path} {sha}\n" for path, sha in hashes).encode())


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[MtpTransformer, ModelConfig, str]:
    """(model in eval mode, its config, tokenizer.json text) from a checkpoint, run, or checkpoints folder."""
    folder, info = read_checkpoint_config(path)
    config = ModelConfig.from_dict(info["model"])
    tokenizer_json = (folder / TOKENIZER_NAME).read_text()
    expected = info.get("tokenizer", {}).get("sha256")
    if expected and sha256_bytes(tokenizer_json.encode("utf-8")) != expected:
        raise MtpError(f"{folder / TOKENIZER_NAME} does not match its {config_path(folder).name}", "the checkpoint is damaged")
    model = empty_model(config)
    load_tensors(model, iter_weights(folder))
    return model.to(device).eval(), config, tokenizer_json


def empty_model(config: ModelConfig) -> MtpTransformer:
    """A model whose weights are allocated but not initialized, for loading: initializing a 1B-parameter
    model at random takes half a minute on a CPU, and every weight is overwritten anyway."""
    with torch.device("meta"):
        model = MtpTransformer(config, initialize=False)
    model = model.to_empty(device="cpu")
    if config.tie_embeddings:  # to_empty gives each module its own tensor
        model.output.weight = model.tok_embeddings.weight
    model.reset_buffers()
    return model
