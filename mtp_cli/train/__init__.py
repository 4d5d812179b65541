"""`mtp train`: a trunk with n future-token heads, trained with the memory-efficient head order.

Components, one concept each: `config` (TrainConfig, what --resume may change), `data` (rows,
shifted targets, sampler position), `objective` (the two backward orders), `schedule`, `optimizer`,
`setup` (checks, model building, --init-from, --freeze-trunk), `checkpointing`, `metrics`,
`validation` (per-head validation loss), `run_folder` (run manifest), and `trainer` (the loop).
"""

from mtp_cli.train.config import TrainConfig
from mtp_cli.train.observer import NullObserver, TrainObserver
from mtp_cli.train.run_folder import config_for_resume, holds_run
from mtp_cli.train.trainer import NonFiniteLoss, Trainer, TrainResult, train

__all__ = [
    "NonFiniteLoss",
    "NullObserver",
    "TrainConfig",
    "TrainObserver",
    "TrainResult",
    "Trainer",
    "config_for_resume",
    "holds_run",
    "train",
]
