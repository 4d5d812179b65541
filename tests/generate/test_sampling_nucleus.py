"""Top-p found from the sorted values alone: the same probabilities as sorting the tokens."""

from __future__ import annotations

import pytest
import torch

from mtp_cli.generate.sampling import SamplingParams, draw, probabilities


def sorted_top_p(logits: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """The plain definition: sort the whole vocabulary."""
    probs = torch.softmax(logits / params.temperature, dim=-1)
    top, order = torch.sort(probs, dim=-1, descending=True)
    mass_before = top.cumsum(-1) - top
    top = top.masked_fill(mass_before >= params.top_p, 0.0)
    kept = torch.zeros_like(probs).scatter_(-1, order, top)
    return kept / kept.sum(-1, keepdim=True)


@pytest.mark.parametrize("shape", [(1, 32768), (7, 4096), (2, 3, 512)])
def test_equals_sorting_the_whole_vocabulary(shape):
    generator = torch.Generator().manual_seed(0)
    for scale in (0.3, 1.0, 3.0, 10.0):
        for top_p in (0.5, 0.9, 0.95, 0.999):
            logits = torch.randn(shape, generator=generator) * scale
            params = SamplingParams(temperature=0.8, top_p=top_p)
            got, expected = probabilities(logits, params), sorted_top_p(logits, params)
            assert torch.equal(got, expected), (scale, top_p)
            u = torch.rand(shape[:-1], generator=generator)
            assert torch.equal(draw(got, u), draw(expected, u))


def test_tokens_tied_with_the_last_one_kept_stay():
    logits = torch.tensor([[3.0, 2.0, 1.0, 1.0, 1.0, 0.0]]).log()  # probabilities 3/8, 2/8, 1/8 x3, 0
    kept = probabilities(logits, SamplingParams(temperature=1.0, top_p=0.7)) > 0
    assert kept.tolist() == [[True, True, True, True, True, False]]
    kept = probabilities(logits, SamplingParams(temperature=1.0, top_p=0.5)) > 0
    assert kept.tolist() == [[True, True, False, False, False, False]]


def test_top_k_then_top_p():
    logits = torch.randn(4, 1000)
    got = probabilities(logits, SamplingParams(temperature=0.7, top_k=20, top_p=0.9))
    assert ((got > 0).sum(-1) <= 20).all() and torch.allclose(got.sum(-1), torch.ones(4))
