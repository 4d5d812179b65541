"""Learning rate: linear warmup to the peak, then cosine decay to a floor."""

from __future__ import annotations

import math


def default_warmup(total_steps: int) -> int:
    return max(1, round(0.02 * total_steps))


def lr_at(step: int, peak: float, warmup: int, total_steps: int, min_ratio: float) -> float:
    """The rate for optimizer step `step` (0-based)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    decay_steps = max(1, total_steps - warmup)
    progress = min(1.0, (step - warmup) / decay_steps)
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))
