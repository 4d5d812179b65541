"""Small trained runs, built once per test session and shared by the training tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mtp_cli.train import train

sys.path.insert(0, str(Path(__file__).parent))
from train_helpers import small_config  # noqa: E402


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
