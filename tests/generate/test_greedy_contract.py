"""The greedy contract: every token plain or speculative greedy decoding emits lies at most
ARGMAX_TOLERANCE below head 1's largest logit in one uncached forward of its sequence, so the two
outputs are equal up to the first near-tie and may differ only after it."""

from __future__ import annotations

import copy

import pytest
import torch
from helpers import checker, mixed_prompts

from mtp_cli.generate import SamplingParams, decode_plain, decode_speculative, load_model
from mtp_cli.generate.forward import greedy_shortfall, sequence_logits
from mtp_cli.generate.speculative import ARGMAX_TOLERANCE

TOLERANCE = ARGMAX_TOLERANCE[torch.float32]
LIMIT, BATCH = 48, 16


@pytest.fixture(scope="module")
def undertrained(undertrained_checkpoint):
    return load_model(undertrained_checkpoint, torch.device("cpu")).model


@pytest.fixture(scope="module")
def prompts(loaded):
    return mixed_prompts(loaded, 96, seed=3)


def decode_both(loaded, model, prompts):
    plain, spec = [], []
    for first in range(0, len(prompts), BATCH):
        batch = prompts[first : first + BATCH]
        plain += decode_plain(model, batch, checker(loaded, len(batch), LIMIT), SamplingParams())
        spec += decode_speculative(model, batch, checker(loaded, len(batch), LIMIT), SamplingParams(), 3)
    return [r.tokens for r in plain], [r.tokens for r in spec]


def differences(model, prompts, plain, spec) -> list[float]:
    """Check the contract on every row; return, where the outputs differ, the full forward's logit of
    plain greedy's token minus speculative decoding's at the first difference."""
    gaps = []
    for prompt, g, s in zip(prompts, plain, spec):
        assert greedy_shortfall(model, prompt, g) <= TOLERANCE and greedy_shortfall(model, prompt, s) <= TOLERANCE
        if g != s:
            at = next(i for i, (a, b) in enumerate(zip(g, s)) if a != b)
            logits = sequence_logits(model, prompt, g[: at + 1])[at]
            gaps.append(float(logits[g[at]] - logits[s[at]]))
    assert all(abs(gap) <= TOLERANCE for gap in gaps), gaps
    return gaps


def test_an_undertrained_model_keeps_the_contract(loaded, undertrained, prompts):
    plain, spec = decode_both(loaded, undertrained, prompts)
    differences(undertrained, prompts, plain, spec)


def test_planted_near_ties_part_the_outputs_and_only_there(loaded, undertrained, prompts):
    # Every odd token's unembedding a copy of the even one's, off by a relative 1e-7: the two differ in
    # logit by about the rounding that separates 1-row from K+1-row forwards, so argmaxes flip.
    model = copy.deepcopy(undertrained)
    torch.manual_seed(0)
    with torch.no_grad():
        weight = model.output.weight
        weight[1::2] = weight[0::2] * (1 + 1e-7 * torch.randn_like(weight[0::2]))
    plain, spec = decode_both(loaded, model, prompts)
    gaps = differences(model, prompts, plain, spec)
    assert len(gaps) >= 3, "no near-tie flipped: the test would not see a divergence"
    # The check itself can fail: a token that is not an argmax falls far below the tolerance.
    row = next(i for i, tokens in enumerate(plain) if len(tokens) > 2)
    wrong = list(plain[row])
    logits = sequence_logits(model, prompts[row], wrong)
    wrong[1] = int(logits[1].argmin())
    assert greedy_shortfall(model, prompts[row], wrong) > TOLERANCE


def test_the_docs_state_the_tolerance_the_code_keeps():
    import inspect
    import re
    from pathlib import Path

    import mtp_cli.generate.speculative as speculative
    from mtp_cli.cli.generate import generate

    stated = f"{TOLERANCE:.0e}".replace("e-0", "e-")  # 1e-4
    help_text = inspect.signature(generate).parameters["mode"].default.help
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for text in (help_text, speculative.__doc__, readme):
        assert re.search(rf"{stated}(?![\d.])", text) and "near-tie" in text
    assert "identical to plain greedy" not in readme and "lossless" not in help_text
