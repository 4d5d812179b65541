"""Small trained runs, built once per test session and shared by the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtp_cli.train import TrainConfig, train

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


@pytest.fixture(scope="session")
def run_bpe_n4(tokenized_bpe, tmp_path_factory) -> Path:
    """n=4 on the BPE corpus, uninterrupted: the reference for resume and the source for 4 -> 1."""
    out = tmp_path_factory.mktemp("runs") / "bpe_n4"
    train(small_config(tokenized_bpe, out))
    return out


@pytest.fixture(scope="session")
def run_bytes_n1(tokenized_bytes, tmp_path_factory) -> Path:
    """n=1 on the byte corpus: the next-token baseline, and the source for 1 -> 4."""
    out = tmp_path_factory.mktemp("runs") / "bytes_n1"
    train(small_config(tokenized_bytes, out, heads=1))
    return out
