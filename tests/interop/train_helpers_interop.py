"""The draft-head training run the interop tests make (a module of its own: test folders have no __init__.py)."""

from __future__ import annotations

from pathlib import Path

from mtp_cli.train import TrainConfig


def draft_config(data: Path, out: Path, init_from: Path) -> TrainConfig:
    return TrainConfig(
        data=data, out=out, init_from=init_from, heads=4, freeze_trunk=True, steps=6, batch_tokens=256,
        micro_batch=2, lr=3e-3, warmup=2, eval_every=3, save_every=6, keep_checkpoints=1, eval_tokens=256, seed=0,
    )
