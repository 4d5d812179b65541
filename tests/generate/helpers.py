"""Prompts and stop checkers for the decoding tests."""

from __future__ import annotations

import random

from fixtures import LINES

from mtp_cli.generate import StopChecker, token_bytes
from mtp_cli.generate.prompts import from_dataset


def mixed_prompts(loaded, count: int, seed: int = 0) -> list[list[int]]:
    """Token prompts of 3 to ~40 tokens: half memorized-looking code (the drafts get accepted), half
    HumanEval tails (they mostly do not)."""
    rng = random.Random(seed)
    humaneval = [p.text for p in from_dataset("humaneval").prompts]
    texts = []
    for i in range(count):
        if i % 2:
            text = "".join(rng.choice(LINES) for _ in range(rng.randint(1, 3)))
            texts.append(text[: rng.randint(3, len(text))])
        else:
            text = humaneval[rng.randrange(len(humaneval))]
            texts.append(text[-rng.randint(10, 120) :])
    return [[loaded.eos_id, *loaded.tokenizer.encode(t).ids] for t in texts]


def checker(loaded, rows: int, limit: int, stops: tuple[str, ...] = ()) -> StopChecker:
    return StopChecker(token_bytes(loaded.tokenizer), stops, loaded.eos_id, [limit] * rows)
