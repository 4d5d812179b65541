"""Speculative greedy decoding gives plain greedy's tokens: exactly in float64 (no near-tie is that close),
and up to near-ties in float32 (the contract, mtp_cli.generate.speculative)."""

from __future__ import annotations

import copy

import pytest
import torch
from helpers import checker, mixed_prompts

from mtp_cli.generate import SamplingParams, decode_plain, decode_speculative
from mtp_cli.generate.forward import at_positions, cached_hidden, greedy_shortfall
from mtp_cli.generate.speculative import ARGMAX_TOLERANCE

GREEDY = SamplingParams()
LIMIT = 40


@pytest.fixture(scope="module")
def model64(loaded):
    # float64 keeps the logits of a k-token forward and of k one-token forwards equal far below any
    # gap between two candidate tokens, so an exact comparison cannot trip on rounding.
    return copy.deepcopy(loaded.model).double()


@pytest.fixture(scope="module")
def prompts(loaded):
    return mixed_prompts(loaded, 56)


@pytest.fixture(scope="module")
def greedy(loaded, model64, prompts):
    results = []
    for first in range(0, len(prompts), 16):  # batches of prompts of different lengths
        batch = prompts[first : first + 16]
        results += decode_plain(model64, batch, checker(loaded, len(batch), LIMIT), GREEDY)
    return [r.tokens for r in results]


@pytest.mark.parametrize("draft_heads", [1, 2, 3])
def test_batched_speculative_equals_greedy(loaded, model64, prompts, greedy, draft_heads):
    results = []
    for first in range(0, len(prompts), 16):
        batch = prompts[first : first + 16]
        results += decode_speculative(model64, batch, checker(loaded, len(batch), LIMIT), GREEDY, draft_heads)
    assert [r.tokens for r in results] == greedy
    accepted = [sum(r.accepted) for r in results]
    assert max(accepted) > 10 and min(accepted) < max(accepted)  # real multi-token steps, rows apart
    if draft_heads == 3:
        tokens = sum(len(r.tokens) for r in results)
        forwards = sum(r.forwards for r in results)
        assert tokens / forwards > 1.3
        assert all(r.forwards < len(r.tokens) for r in results if sum(r.accepted) > 0)


def test_linear_heads_speculative_equals_greedy(loaded, linear_heads_checkpoint):
    from mtp_cli.generate import load_model

    model = copy.deepcopy(load_model(linear_heads_checkpoint, torch.device("cpu")).model).double()
    assert model.config.head_type == "linear"
    prompts = mixed_prompts(loaded, 24, seed=1)
    for size in (1, 8):
        plain, spec = [], []
        for first in range(0, len(prompts), size):
            batch = prompts[first : first + size]
            plain += decode_plain(model, batch, checker(loaded, len(batch), LIMIT), GREEDY)
            spec += decode_speculative(model, batch, checker(loaded, len(batch), LIMIT), GREEDY, 3)
        assert [r.tokens for r in spec] == [r.tokens for r in plain]
        assert sum(len(r.tokens) for r in spec) / sum(r.forwards for r in spec) > 1.2


def test_chained_heads_speculative_equals_greedy(loaded, chained_heads_checkpoint):
    """Causal heads draft from a chain on head 1; anticausal head 1 reads every other head, so every
    forward (plain greedy's too) runs all of them. Either way speculative greedy is plain greedy."""
    from mtp_cli.generate import load_model

    model = copy.deepcopy(load_model(chained_heads_checkpoint, torch.device("cpu")).model).double()
    assert model.config.chained_heads
    prompts = mixed_prompts(loaded, 16, seed=2)
    plain = decode_plain(model, prompts, checker(loaded, len(prompts), LIMIT), GREEDY)
    assert all(len(r.tokens) > 5 for r in plain)
    for draft_heads in (1, 3):
        spec = decode_speculative(model, prompts, checker(loaded, len(prompts), LIMIT), GREEDY, draft_heads)
        assert [r.tokens for r in spec] == [r.tokens for r in plain]
    assert sum(len(r.tokens) for r in spec) / sum(r.forwards for r in spec) > 1.2
    # Plain greedy is head 1's argmax of one uncached forward of the chain, position by position.
    for prompt, result in zip(prompts[:4], plain[:4]):
        assert greedy_shortfall(model, prompt, result.tokens) == 0.0


def test_unbatched_speculative_equals_greedy(loaded, model64, prompts, greedy):
    for i in range(0, len(prompts), 4):
        result = decode_speculative(model64, [prompts[i]], checker(loaded, 1, LIMIT), GREEDY, 3)[0]
        assert result.tokens == greedy[i]
        plain = decode_plain(model64, [prompts[i]], checker(loaded, 1, LIMIT), GREEDY)[0]
        assert plain.tokens == greedy[i]  # batched == unbatched for plain decoding too


def test_float32_speculative_keeps_the_greedy_contract(loaded, prompts):
    """The model as `mtp generate` runs it: greedy's tokens, or tokens that part from them only after
    a near-tie (test_greedy_contract.py); float64 above leaves no room for one."""
    batch = prompts[:16]
    plain = decode_plain(loaded.model, batch, checker(loaded, 16, LIMIT), GREEDY)
    spec = decode_speculative(loaded.model, batch, checker(loaded, 16, LIMIT), GREEDY, 3)
    for prompt, p, s in zip(batch, plain, spec):
        if s.tokens != p.tokens:
            assert greedy_shortfall(loaded.model, prompt, s.tokens) <= ARGMAX_TOLERANCE[torch.float32]
            assert greedy_shortfall(loaded.model, prompt, p.tokens) <= ARGMAX_TOLERANCE[torch.float32]


@torch.inference_mode()
def test_cache_rollback_per_row(loaded, model64, prompts):
    """After a block of drafts and a per-row rollback, the cache continues each row exactly as if the
    rejected drafts had never been fed."""
    model = model64
    rows = prompts[:3]
    cache_logits = []
    width = max(len(p) for p in rows)
    padded = torch.tensor([p + [0] * (width - len(p)) for p in rows])
    lengths = torch.tensor([len(p) for p in rows])
    cache = model.new_cache(3, width + 12)
    cached_hidden(model, padded, cache)
    cache.truncate(lengths)
    block = torch.randint(0, 512, (3, 4))
    cached_hidden(model, block, cache)
    keep = torch.tensor([0, 2, 4])  # rows accept different numbers of the block's tokens
    cache.truncate(lengths + keep)
    following = torch.randint(0, 512, (3, 2))
    hidden = cached_hidden(model, following, cache)
    for row in range(3):
        full = torch.cat([torch.tensor(rows[row]), block[row, : keep[row]], following[row]])[None]
        expected = model(full).logits[0, -2:]  # (2, heads, vocab)
        got = torch.stack([model.unembed(h[row]) for h in hidden], dim=1)
        torch.testing.assert_close(got, expected, atol=1e-9, rtol=1e-9)
        cache_logits.append(got)
    assert cache.lengths.tolist() == (lengths + keep + 2).tolist()
    # the gather used for drafting picks each row's own position
    positions = torch.tensor([1, 0, 1])
    picked = at_positions(hidden[1], positions)
    for row in range(3):
        torch.testing.assert_close(picked[row], hidden[1][row, positions[row]])


def test_optimistic_drafts_won_and_lost_keep_the_output(loaded, model64, prompts, greedy, monkeypatch):
    # After a step that accepted every draft, the drafting heads' rows at the block's end ride along
    # with head 1's (2K+1 rows); when this step rejects a draft they are unembedded again (K rows).
    import mtp_cli.generate.speculative as speculative

    calls = []
    real = speculative.decode_logits

    def spy(model, hidden):
        calls.append(hidden.shape[1])
        return real(model, hidden)

    monkeypatch.setattr(speculative, "decode_logits", spy)
    for i in range(0, len(prompts), 2):
        result = decode_speculative(model64, [prompts[i]], checker(loaded, 1, LIMIT), GREEDY, 3)[0]
        assert result.tokens == greedy[i]
    won = sum(1 for a, b in zip(calls, calls[1:] + [0]) if a == 7 and b != 3)
    lost = sum(1 for a, b in zip(calls, calls[1:]) if a == 7 and b == 3)
    assert won > 5 and lost > 0, (won, lost)
