"""The thread-count setting: 1 by default, 0 for one per core."""

from __future__ import annotations

import pytest
import torch

from mtp_cli.model.threads import set_threads


def test_set_threads_defaults_to_one_and_zero_is_one_per_core():
    from mtp_cli.model.threads import ONE_PER_CORE

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)  # a count no default gives here, so an ignored setting shows
        assert set_threads(2) == torch.get_num_threads() == 2
        assert set_threads(None) == torch.get_num_threads() == 1
        assert set_threads(0) == ONE_PER_CORE
    finally:
        torch.set_num_threads(before)


def test_set_threads_refuses_a_negative_count():
    with pytest.raises(ValueError):
        set_threads(-1)


def test_the_threads_setting_reaches_torch(tokenized_bytes, tmp_path):
    import torch

    from mtp_cli.train import train
    from train_helpers import small_config

    before = torch.get_num_threads()
    try:
        for start, asked in ((1, 2), (2, 1)):  # whatever torch used before, the run must change it
            torch.set_num_threads(start)
            train(small_config(tokenized_bytes, tmp_path / f"run{asked}", steps=1, threads=asked))
            assert torch.get_num_threads() == asked
        torch.set_num_threads(2)
        train(small_config(tokenized_bytes, tmp_path / "run-default", steps=1))
        assert torch.get_num_threads() == 1  # the default
    finally:
        torch.set_num_threads(before)
