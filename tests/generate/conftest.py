"""Checkpoints shared by the generate tests, built once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from fixtures import train_tiny  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    # Small decoding steps run faster on one thread, and the cores are shared with other test runs.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory, tokenized_bpe, one_thread) -> Path:
    """A 4-head model (vocab 512, context 2048) trained for a few seconds."""
    return train_tiny(tokenized_bpe, tmp_path_factory.mktemp("ckpt") / "four-heads", heads=4, steps=120)


@pytest.fixture(scope="session")
def linear_heads_checkpoint(tmp_path_factory, tokenized_bpe, one_thread) -> Path:
    """As `checkpoint`, with linear drafting heads (they keep no KV cache and draft from the trunk)."""
    return train_tiny(tokenized_bpe, tmp_path_factory.mktemp("ckpt") / "linear-heads", heads=4, steps=120, head_type="linear")


@pytest.fixture(scope="session", params=["causal", "anticausal"])
def chained_heads_checkpoint(request, tmp_path_factory, tokenized_bpe, one_thread) -> Path:
    """As `checkpoint`, with the paper's causal or anticausal heads (App. B), which read each other."""
    kind = request.param
    return train_tiny(tokenized_bpe, tmp_path_factory.mktemp("ckpt") / f"{kind}-heads", heads=4, steps=120, head_type=kind)


@pytest.fixture(scope="session")
def undertrained_checkpoint(tmp_path_factory, tokenized_bpe, one_thread) -> Path:
    """As `checkpoint`, trained 4 steps only: head 1's logits lie close together, near-ties abound."""
    return train_tiny(tokenized_bpe, tmp_path_factory.mktemp("ckpt") / "undertrained", heads=4, steps=4)


@pytest.fixture(scope="session")
def one_head_checkpoint(tmp_path_factory, tokenized_bpe, one_thread) -> Path:
    return train_tiny(tokenized_bpe, tmp_path_factory.mktemp("ckpt") / "one-head", heads=1, steps=1)


@pytest.fixture(scope="session")
def loaded(checkpoint):
    from mtp_cli.generate import load_model

    return load_model(checkpoint, torch.device("cpu"))
