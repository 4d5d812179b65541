"""Shared, session-scoped fixtures: expensive artifacts are built once per test run."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtp_cli.tokenize import TokenizeConfig, tokenize_corpus
from mtp_cli.tokenize.sources import stdlib_root

# A real code corpus that every machine has: a few packages of this Python's standard library.
SMALL_CORPUS = ("json", "email", "urllib")


def pytest_terminal_summary(terminalreporter, config):
    # The order is shuffled on every run (pyproject.toml); -q hides the header that names the seed.
    if config.pluginmanager.hasplugin("random_order"):
        from random_order.config import Config

        seed = Config(config).seed
        terminalreporter.write_line(f"test order: repeat it with --random-order-seed={seed}")


@pytest.fixture(scope="session")
def corpus_dirs() -> list[str]:
    return [str(stdlib_root() / name) for name in SMALL_CORPUS]


@pytest.fixture(scope="session")
def tokenized_bytes(tmp_path_factory, corpus_dirs) -> Path:
    """The small corpus as bytes, 256-token rows, 10% validation."""
    out = tmp_path_factory.mktemp("data") / "bytes"
    tokenize_corpus(TokenizeConfig(out=out, sources=corpus_dirs, tokenizer="bytes", seq_len=256, val_fraction=0.1, workers=1))
    return out


@pytest.fixture(scope="session")
def tokenized_bpe(tmp_path_factory, corpus_dirs) -> Path:
    """The small corpus with a 512-token BPE trained on it, 128-token rows, 10% validation."""
    out = tmp_path_factory.mktemp("data") / "bpe"
    tokenize_corpus(
        TokenizeConfig(out=out, sources=corpus_dirs, tokenizer="bpe", vocab_size=512, seq_len=128, val_fraction=0.1, workers=1)
    )
    return out


@pytest.fixture
def small_tmpfs(tmp_path):
    """A factory of small tmpfs mounts (`small_tmpfs("8m")`), for disk-full tests; unmounted after the
    test. Mounting needs root (CI runs as root); elsewhere the test is skipped, saying why."""
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("disk-full tests mount a small tmpfs, which needs root")
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        folder = tmp_path / f"tmpfs-{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)
