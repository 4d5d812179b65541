"""Head k's targets are exactly the stream's tokens k ahead; padding is never a target."""

from __future__ import annotations

import numpy as np
import pytest

from mtp_cli.tokenize import TokenizedData
from mtp_cli.train.data import IGNORE, RowSampler, load_rows, window_targets

N = 4


@pytest.fixture(scope="module")
def split(tokenized_bpe):
    return TokenizedData.open(tokenized_bpe).split("train")


def stream(split) -> np.ndarray:
    return np.concatenate([split.row(i) for i in range(len(split))]).astype(np.int64)[: split.real_tokens]


def test_targets_are_the_tokens_k_ahead_across_row_boundaries(split):
    tokens, T = stream(split), split.seq_len
    rows = [0, 5, len(split) - 2]
    inputs, targets = load_rows(split, rows, N)
    assert inputs.shape == (3, T) and targets.shape == (N, 3, T)
    for b, row in enumerate(rows):
        start = row * T
        assert inputs[b].tolist() == tokens[start : start + T].tolist()
        for k in range(1, N + 1):
            # the last k positions of a row predict the first tokens of the next row
            assert targets[k - 1, b].tolist() == tokens[start + k : start + T + k].tolist(), (row, k)


def test_padded_tail_is_masked(split):
    T, last = split.seq_len, len(split) - 1
    real_in_row = split.real_tokens - last * T
    assert 0 < real_in_row < T  # the fixture's last row is padded
    tokens = stream(split)
    _, targets = load_rows(split, [last], N)
    for k in range(1, N + 1):
        valid = real_in_row - k
        assert targets[k - 1, 0, :valid].tolist() == tokens[last * T + k :].tolist()
        assert (targets[k - 1, 0, valid:] == IGNORE).all()


def test_window_targets_by_hand():
    window = np.arange(10, 20)  # a 6-token row + 4 look-ahead, 8 of them real
    inputs, targets = window_targets(window, real=8, seq_len=6, n=3)
    assert inputs.tolist() == [10, 11, 12, 13, 14, 15]
    assert targets.tolist() == [
        [11, 12, 13, 14, 15, 16],
        [12, 13, 14, 15, 16, 17],
        [13, 14, 15, 16, 17, IGNORE],
    ]


def test_sampler_covers_each_epoch_and_resumes_from_its_state():
    sampler = RowSampler(10, seed=3)
    first_epoch = sampler.take(4) + sampler.take(4) + sampler.take(2)
    assert sorted(first_epoch) == list(range(10))
    sampler.take(3)
    saved = sampler.state_dict()
    expected = sampler.take(12)  # crosses into the third epoch
    restored = RowSampler(10, seed=3)
    restored.load_state_dict(saved)
    assert restored.take(12) == expected
    assert RowSampler(10, seed=4).take(10) != first_epoch
