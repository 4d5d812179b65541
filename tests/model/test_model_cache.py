"""KV-cache decoding gives the same logits as a full forward: what `mtp generate` relies on."""

from __future__ import annotations

import pytest
import torch

from mtp_cli.model import MtpTransformer, build_config


@pytest.fixture(scope="module", params=["transformer", "linear"])
def model(request) -> MtpTransformer:
    torch.manual_seed(0)
    config = build_config("tiny", {"vocab_size": 101, "dim": 32, "n_heads": 2, "head_type": request.param})
    return MtpTransformer(config).eval()


@torch.no_grad()
def test_cached_chunks_equal_full_forward(model):
    tokens = torch.randint(0, 101, (3, 21))
    full = model(tokens).logits
    cache = model.new_cache(3, 32)
    pieces = [model(tokens[:, a:b], cache).logits for a, b in ((0, 9), (9, 10), (10, 14), (14, 21))]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)
    assert cache.length == 21


@torch.no_grad()
def test_truncate_rolls_back_drafts(model):
    tokens = torch.randint(0, 101, (2, 16))
    full = model(tokens).logits
    cache = model.new_cache(2, 32)
    model(tokens[:, :10], cache)
    model(torch.randint(0, 101, (2, 4)), cache)  # drafts that get rejected
    cache.truncate(10)
    out = model(tokens[:, 10:], cache, heads=[0, 3], last=2).logits
    torch.testing.assert_close(out, full[:, -2:, [0, 3]], atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_rows_keep_their_own_lengths(model):
    """Right-padded prompts of different lengths, then per-row rollback, then one shared step."""
    a, b = torch.randint(0, 101, (1, 12)), torch.randint(0, 101, (1, 7))
    padded = torch.cat([a, torch.cat([b, torch.zeros(1, 5, dtype=torch.long)], dim=1)])
    cache = model.new_cache(2, 32)
    model(padded, cache)
    cache.truncate(torch.tensor([12, 7]))
    nxt = torch.randint(0, 101, (2, 2))
    out = model(nxt, cache).logits
    torch.testing.assert_close(out[0], model(torch.cat([a[0], nxt[0]])[None]).logits[0, -2:], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[1], model(torch.cat([b[0], nxt[1]])[None]).logits[0, -2:], atol=1e-5, rtol=1e-5)
    assert cache.lengths.tolist() == [14, 9]


@torch.no_grad()
def test_rewind_per_row_then_hidden_states(model):
    """Speculative decoding's step: a block, each row rewound by its own count, then hidden states
    of every cached head that unembed to the full forward's logits."""
    tokens = torch.randint(0, 101, (2, 12))
    full = model(tokens).logits
    cache = model.new_cache(2, 32)
    model(tokens[:, :8], cache)
    model(torch.cat([tokens[:, 8:10], torch.randint(0, 101, (2, 2))], dim=1), cache)
    cache.rewind(torch.tensor([4, 2]))  # row 0 keeps none of the block, row 1 its two real tokens
    _, hidden = model.hidden_states(torch.stack([tokens[0, 8], tokens[1, 10]])[:, None], cache, heads=[0])
    assert sorted(hidden) == list(range(model.n_future_tokens))  # every head the cache serves ran
    logits = torch.stack([model.unembed(hidden[i][:, 0]) for i in sorted(hidden)], dim=1)
    torch.testing.assert_close(logits[0], full[0, 8], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits[1], full[1, 10], atol=1e-5, rtol=1e-5)
    assert cache.lengths.tolist() == [9, 11]


@torch.no_grad()
def test_cache_serving_fewer_heads(model):
    tokens = torch.randint(0, 101, (1, 9))
    cache = model.new_cache(1, 16, heads=1)
    assert cache.num_heads == 1
    model(tokens[:, :5], cache)
    out = model(tokens[:, 5:], cache).logits
    assert out.shape[-2] == 1
    torch.testing.assert_close(out[:, :, 0], model(tokens).logits[:, 5:, 0], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError):
        model(tokens[:, :1], cache, heads=[1])


def test_cache_refuses_overflow_and_growth(model):
    cache = model.new_cache(1, 4)
    with pytest.raises(Exception, match="holds 4 positions"):
        model(torch.zeros(1, 5, dtype=torch.long), cache)
    with pytest.raises(ValueError):
        cache.truncate(2)
