"""The small training config every training test starts from (a module of its own, because test
folders have no __init__.py and several of them have a conftest.py)."""

from __future__ import annotations

from pathlib import Path

from mtp_cli.train import TrainConfig

TEST_MODEL = {"dim": 64, "n_heads": 4}  # the tiny preset (6 layers) made narrower still
STEPS = 40


def small_config(data: Path, out: Path, **changes) -> TrainConfig:
    """A config that trains in a few seconds on 2 CPU cores."""
    settings = dict(
        data=data, out=out, preset="tiny", model_overrides=dict(TEST_MODEL), heads=4, steps=STEPS,
        batch_tokens=512, micro_batch=2, lr=3e-3, warmup=4, eval_every=10, save_every=5,
        keep_checkpoints=2, eval_tokens=1024, seed=0,
    )
    return TrainConfig(**{**settings, **changes})
