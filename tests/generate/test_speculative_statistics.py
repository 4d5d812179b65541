"""Speculative decoding's statistics count what the completion keeps, also when a step is cut short
by the token limit, a stop sequence or EOS inside its accepted drafts."""

from __future__ import annotations

import random

import pytest
from helpers import mixed_prompts

from mtp_cli.generate import SamplingParams, StopChecker, decode_speculative, token_bytes
from mtp_cli.generate.output import GeneratedSample, totals

K = 3


def decode_with_limits(loaded, stops: tuple[str, ...], seed: int):
    prompts = mixed_prompts(loaded, 32, seed=seed)
    rng = random.Random(seed)
    limits = [rng.randint(1, 30) for _ in prompts]
    checker = StopChecker(token_bytes(loaded.tokenizer), stops, loaded.eos_id, limits)
    return limits, decode_speculative(loaded.model, prompts, checker, SamplingParams(), K)


@pytest.mark.parametrize("stops", [(), ("\n",), (":", "(")])
def test_accepted_drafts_are_kept_tokens(loaded, stops):
    limits, results = decode_with_limits(loaded, stops, seed=len(stops))
    cut_inside_drafts = 0
    for limit, r in zip(limits, results):
        assert 1 <= len(r.tokens) <= limit
        # The prefill gives one token; a verification step gives its accepted drafts and head 1's
        # token, except the last step, which may end the row at or before that token.
        slack = len(r.tokens) - 1 - r.drafted - sum(r.accepted)
        assert slack in (0, -1), (len(r.tokens), r.drafted, r.accepted)
        cut_inside_drafts += slack == -1
        assert r.forwards == 1 + r.drafted
        assert all(a >= b for a, b in zip(r.accepted, r.accepted[1:]))  # a draft needs the ones before it
        assert sum(r.accepted) <= len(r.tokens) - 1
    assert cut_inside_drafts > 0  # the case under test happened
    summary = totals([GeneratedSample(str(i), 0, "", r) for i, r in enumerate(results)], len(results), 1.0, K)
    assert summary["accepted_draft_tokens"] <= summary["new_tokens"] - len(results)
