"""Everything checked and built before the first step: data, model config, model, frozen parts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from mtp_cli.artifacts import MtpError, sha256_file
from mtp_cli.model import ModelConfig, MtpTransformer, build_config, read_checkpoint_config
from mtp_cli.model.checkpoint import empty_model, load_tensors, read_weights
from mtp_cli.model.transformer import window_prior
from mtp_cli.tokenize.reader import SplitTokens, TokenizedData
from mtp_cli.train.config import TrainConfig

TOKENIZER_FIELDS = ("kind", "vocab_size", "eos_id", "eos_token", "pad_id", "pad_token", "bos_id", "bos_token", "sha256")
# Model fields that --set may still change on --init-from: they change no weight's shape.
INIT_FROM_OVERRIDABLE = frozenset({"max_seq_len", "rope_theta", "norm_eps", "head_type", "window_size"})


@dataclass
class RunData:
    data: TokenizedData
    train: SplitTokens
    validation: SplitTokens | None
    tokenizer_json: str

    @property
    def tokenizer(self) -> dict[str, Any]:
        """The tokenizer's identity, as recorded in checkpoints."""
        return {k: self.data.manifest["tokenizer"].get(k) for k in TOKENIZER_FIELDS}

    @property
    def identity(self) -> dict[str, Any]:
        """What `--resume` compares: the same data, wherever the folder now is."""
        return {
            "kind": "tokenized",
            "path": str(self.data.folder),
            "manifest_sha256": sha256_file(self.data.folder / "manifest.json"),
            "tokenizer_sha256": self.tokenizer["sha256"],
            "seq_len": self.data.seq_len,
            "train_rows": len(self.train),
        }


def open_data(config: TrainConfig) -> RunData:
    data = TokenizedData.open(config.data)
    train = data.split("train")
    if len(train) == 0:
        raise MtpError(f"{config.data} has an empty train split", "tokenize a larger corpus")
    splits = data.manifest["splits"]
    validation = data.split("validation") if splits.get("validation", {}).get("rows") else None
    tokenizer_json = (data.folder / "tokenizer.json").read_text()
    if sha256_file(data.folder / "tokenizer.json") != data.manifest["tokenizer"]["sha256"]:
        raise MtpError(f"{data.folder / 'tokenizer.json'} does not match its manifest", "tokenize again")
    return RunData(data, train, validation, tokenizer_json)


def resolve_model_config(config: TrainConfig, data: RunData) -> ModelConfig:
    """The model to train, from the preset and overrides or from --init-from; checked against the data."""
    if config.init_from is not None:
        model_config = _config_from_checkpoint(config, data)
    else:
        overrides = {"vocab_size": data.data.vocab_size, **config.model_overrides, "n_future_tokens": config.heads}
        model_config = build_config(config.preset, overrides)
    if model_config.vocab_size < data.data.vocab_size:
        raise MtpError(
            f"the model's vocabulary ({model_config.vocab_size}) is smaller than the data's ({data.data.vocab_size})",
            "drop --set vocab_size, or tokenize with a smaller vocabulary",
        )
    if data.data.seq_len > model_config.max_seq_len:
        raise MtpError(
            f"the data's rows are {data.data.seq_len} tokens, the model's context is {model_config.max_seq_len}",
            f"pass --set max_seq_len={data.data.seq_len}, or tokenize with a smaller --seq-len",
        )
    return model_config


def _config_from_checkpoint(config: TrainConfig, data: RunData) -> ModelConfig:
    _, info = read_checkpoint_config(config.init_from)
    source = ModelConfig.from_dict(info["model"])
    changes = {k: v for k, v in config.model_overrides.items() if getattr(source, k, None) != v}
    refused = sorted(set(changes) - INIT_FROM_OVERRIDABLE)
    if refused:
        raise MtpError(
            f"--init-from takes the model's shape from the checkpoint; cannot also set {', '.join(refused)}",
            f"only {', '.join(sorted(INIT_FROM_OVERRIDABLE))} may be set when fine-tuning",
        )
    theirs = info.get("tokenizer", {}).get("sha256")
    if theirs != data.tokenizer["sha256"]:
        raise MtpError(
            f"{config.init_from} was trained with another tokenizer than {config.data}'s",
            "tokenize the fine-tuning data with the checkpoint's tokenizer.json (--tokenizer PATH)",
        )
    head_type = changes.pop("head_type", None)
    same_heads = config.heads == source.n_future_tokens and head_type is None
    target = source if same_heads else source.with_heads(config.heads, head_type)
    return dataclasses.replace(target, **changes)


def build_model(model_config: ModelConfig, config: TrainConfig, device: torch.device) -> MtpTransformer:
    """A fresh model (seeded), or one initialized from --init-from; the trunk frozen if asked."""
    torch.manual_seed(config.seed)
    if config.init_from is not None:  # every weight comes from the checkpoint: no random init to pay for
        folder, info = read_checkpoint_config(config.init_from)
        source = ModelConfig.from_dict(info["model"])
        model = empty_model(model_config)
        load_tensors(model, adapt_heads(read_weights(folder), source, model_config).items())
    else:
        model = MtpTransformer(model_config)
    if config.freeze_trunk:
        if model_config.head_type == "anticausal":
            raise MtpError(
                "--freeze-trunk keeps the next-token model as it was, but anticausal head 1 reads every extra head",
                "train anticausal heads without --freeze-trunk, or use --head-type transformer or causal",
            )
        freeze_next_token_model(model)
    return model.to(device)


def adapt_heads(tensors: dict[str, torch.Tensor], source: ModelConfig, target: ModelConfig) -> dict[str, torch.Tensor]:
    """Weights for `target` (same trunk and head 1, another number of heads) from `source`'s.

    Dropped heads are left out; a new block head starts as a copy of head 1's block (a next-token
    predictor is a better start than noise); a new linear head starts as the identity. A new window
    head starts as a copy of head 1's block with its bias at the prior (`WindowHead`).
    """
    head_one = f"layers.{source.trunk_layers}."

    def copy_of_head_one(prefix: str) -> dict[str, torch.Tensor]:
        return {prefix + name[len(head_one):]: t.clone() for name, t in tensors.items() if name.startswith(head_one)}

    kept = {name: t for name, t in tensors.items() if not name.startswith("extra_heads.")}
    for j in range(target.n_future_tokens - 1):
        prefix = f"extra_heads.{j}."
        existing = {name: t for name, t in tensors.items() if name.startswith(prefix)}
        if existing and source.block_heads == target.block_heads:
            kept.update(existing)
        elif target.block_heads:
            kept.update(copy_of_head_one(prefix))
        else:
            kept[prefix + "weight"] = torch.eye(target.dim)
    if target.window_size and not any(name.startswith("window_head.") for name in kept):
        kept.update(copy_of_head_one("window_head.block."))
        kept["window_head.bias"] = torch.full((target.vocab_size,), window_prior(target.window_size, target.vocab_size))
    if not target.window_size:
        kept = {name: t for name, t in kept.items() if not name.startswith("window_head.")}
    return kept


def freeze_next_token_model(model: MtpTransformer) -> None:
    """Train only the extra heads: the next-token model (embeddings, trunk, head 1, norm, unembedding)
    stays exactly as it was, so the heads can draft for it in self-speculative decoding."""
    for param in model.parameters():
        param.requires_grad_(False)
    for param in model.extra_heads.parameters():
        param.requires_grad_(True)
    if model.window_head is not None:  # it reads the trunk and feeds nothing: training it changes no head
        model.window_head.requires_grad_(True)
