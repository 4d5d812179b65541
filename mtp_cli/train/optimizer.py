"""AdamW with decoupled weight decay on matrices only (not on norm gains)."""

from __future__ import annotations

import torch

from mtp_cli.model import MtpTransformer
from mtp_cli.train.config import TrainConfig


def build_optimizer(model: MtpTransformer, config: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trainable if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in trainable if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, fused=device.type == "cuda")


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
