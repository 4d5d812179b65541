"""Speculative sampling is lossless: its tokens follow plain sampling's distribution exactly.

Thousands of rows sample the first three tokens of one prompt; their joint frequencies are compared
with the exact distribution computed from head 1 by a chi-square test. The second and third tokens
are drafted by heads 2 and 3 and accepted or resampled, so a wrong acceptance rule or residual
shows; the test also checks that the drafting heads' own distribution would fail it by far.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
from helpers import checker

from mtp_cli.generate import SamplingParams, decode_plain, decode_speculative, probabilities
from mtp_cli.generate.sampling import sample_seed

ROWS = 3000


@torch.inference_mode()
def exact_triples(model, prompt: list[int], params: SamplingParams, min_pair: float) -> tuple[dict, torch.Tensor]:
    """Exact P(x1, x2, x3) for pairs with probability >= min_pair, and head 2's q(x2) at the prompt."""
    logits = model(torch.tensor([prompt])).logits[0, -1]  # (heads, vocab)
    p1 = probabilities(logits[0], params)
    q2 = probabilities(logits[1], params)
    firsts = torch.nonzero(p1 > min_pair).flatten().tolist()
    seqs = torch.tensor([prompt + [x1] for x1 in firsts])
    p2 = probabilities(model(seqs, heads=[0], last=1).logits[:, 0, 0], params)
    pairs = [(x1, x2, float(p1[x1] * p2[i, x2])) for i, x1 in enumerate(firsts) for x2 in torch.nonzero(p2[i] > 0).flatten().tolist()]
    pairs = [(x1, x2, p) for x1, x2, p in pairs if p >= min_pair]
    seqs = torch.tensor([prompt + [x1, x2] for x1, x2, _ in pairs])
    p3 = probabilities(model(seqs, heads=[0], last=1).logits[:, 0, 0], params)
    triples = {}
    for i, (x1, x2, p) in enumerate(pairs):
        for x3 in torch.nonzero(p3[i] * p * ROWS >= 5).flatten().tolist():
            triples[(x1, x2, x3)] = p * float(p3[i, x3])
    return triples, p1, q2


def chi_square(observed: Counter, expected: dict) -> tuple[float, int]:
    """Pearson's statistic over the given bins plus one pooled bin for everything else."""
    stat, seen = 0.0, 0
    for key, p in expected.items():
        e = p * ROWS
        stat += (observed.get(key, 0) - e) ** 2 / e
        seen += observed.get(key, 0)
    rest_e = (1 - sum(expected.values())) * ROWS
    if rest_e >= 5:
        stat += (ROWS - seen - rest_e) ** 2 / rest_e
    return stat, len(expected)


def threshold(df: int) -> float:
    return df + 5 * math.sqrt(2 * df)  # about p < 1e-4 for the chi-square's normal approximation


@pytest.mark.parametrize(
    "params", [SamplingParams(temperature=1.0), SamplingParams(temperature=1.5, top_k=12, top_p=0.9)], ids=["t1", "topk-topp"]
)
def test_speculative_sampling_follows_head_1(loaded, params):
    model = loaded.model
    prompt = [loaded.eos_id, *loaded.tokenizer.encode("def check(values):\n    for").ids]
    expected, p1, q2 = exact_triples(model, prompt, params, min_pair=20 / ROWS)
    assert len(expected) >= 5 and sum(expected.values()) > 0.3

    seeds = [sample_seed(1, 0, "dist", i) for i in range(ROWS)]
    for decode, extra in ((decode_speculative, (3,)), (decode_plain, ())):
        results = decode(model, [prompt] * ROWS, checker(loaded, ROWS, 3), params, *extra, seeds=seeds)
        observed = Counter(tuple(r.tokens) for r in results if len(r.tokens) == 3)
        stat, df = chi_square(observed, expected)
        assert stat < threshold(df), f"{decode.__name__}: chi-square {stat:.1f} over {df} bins"
        if decode is decode_speculative:
            drafted = sum(r.drafted for r in results)
            assert sum(r.accepted[0] for r in results) > 0.1 * drafted  # drafts really got accepted
            assert sum(r.accepted[0] for r in results) < drafted  # ... and rejected

    # Sensitivity: had x2 been taken from head 2's q (drafts always accepted), the statistic would be huge.
    pairs = Counter()
    for (x1, x2, _), p in expected.items():
        pairs[(x1, x2)] += 0
    broken = {(x1, x2): float(p1[x1] * q2[x2]) for (x1, x2) in pairs}
    exact_pairs = Counter()
    for (x1, x2, _), p in expected.items():
        exact_pairs[(x1, x2)] += p
    gap = sum((broken[k] - exact_pairs[k]) ** 2 / exact_pairs[k] for k in pairs) * ROWS
    assert gap > 10 * threshold(len(pairs))


def test_sampling_is_seeded_and_batch_independent(loaded):
    params = SamplingParams(temperature=1.0, top_p=0.95)
    prompt = [loaded.eos_id, *loaded.tokenizer.encode("class Parser:\n").ids]
    seeds = [sample_seed(7, 0, "x", i) for i in range(6)]
    for decode, extra in ((decode_plain, ()), (decode_speculative, (3,))):
        batched = decode(loaded.model, [prompt] * 6, checker(loaded, 6, 24), params, *extra, seeds=seeds)
        again = decode(loaded.model, [prompt] * 6, checker(loaded, 6, 24), params, *extra, seeds=seeds)
        single = [decode(loaded.model, [prompt], checker(loaded, 1, 24), params, *extra, seeds=[s])[0] for s in seeds]
        assert [r.tokens for r in batched] == [r.tokens for r in again] == [r.tokens for r in single]
        assert len({tuple(r.tokens) for r in batched}) > 1  # different seeds, different samples
