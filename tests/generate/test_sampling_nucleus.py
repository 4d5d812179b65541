"""Top-p through the 256 most likely tokens first: the same probabilities as sorting everything."""

from __future__ import annotations

import pytest
import torch

from mtp_cli.generate.sampling import NUCLEUS_CANDIDATES, SamplingParams, draw, probabilities


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
    small_nucleus = large_nucleus = 0
    for scale in (0.3, 1.0, 3.0, 10.0):
        for top_p in (0.5, 0.9, 0.95, 0.999):
            logits = torch.randn(shape, generator=generator) * scale
            params = SamplingParams(temperature=0.8, top_p=top_p)
            got, expected = probabilities(logits, params), sorted_top_p(logits, params)
            assert torch.equal(got, expected), (scale, top_p)
            kept = (got > 0).sum(-1)
            small_nucleus += int((kept <= NUCLEUS_CANDIDATES).all())
            large_nucleus += int((kept > NUCLEUS_CANDIDATES).any())
            u = torch.rand(shape[:-1], generator=generator)
            assert torch.equal(draw(got, u), draw(expected, u))
    assert small_nucleus and (large_nucleus or shape[-1] <= NUCLEUS_CANDIDATES)


def test_a_vocabulary_smaller_than_the_candidates():
    logits = torch.randn(3, 100)
    params = SamplingParams(temperature=1.0, top_p=0.9)
    assert torch.equal(probabilities(logits, params), sorted_top_p(logits, params))
