"""The training thread-count setting."""

from __future__ import annotations

import pytest
import torch

from mtp_cli.train.threads import set_threads


def test_set_threads_sets_and_none_keeps_the_count():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)  # a count no default gives here, so an ignored setting shows
        assert set_threads(1) == torch.get_num_threads() == 1
        assert set_threads(None) == 1
        assert set_threads(2) == torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_set_threads_refuses_zero():
    with pytest.raises(ValueError):
        set_threads(0)


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
    finally:
        torch.set_num_threads(before)
