"""The unbiased pass@k estimator (Chen et al. 2021) and its average over problems."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean


def estimate_pass_at_k(n: int, c: int, k: int) -> float:
    """P(at least one of k samples drawn from n, c of them correct, passes) = 1 - C(n-c, k) / C(n, k).

    Computed as 1 - prod_{i=n-c+1}^{n} (1 - k / i): no huge binomials, no overflow.
    """
    if not 0 <= c <= n or n < 1 or k < 1:
        raise ValueError(f"pass@k needs n >= 1, 0 <= c <= n and k >= 1 (got n={n}, c={c}, k={k})")
    if k > n:
        raise ValueError(f"pass@{k} is undefined with only {n} samples")
    if n - c < k:
        return 1.0
    import numpy as np  # here: `mtp eval`'s command line is built without numpy

    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


@dataclass(frozen=True)
class PassAtK:
    scores: dict[str, float]  # "pass@1" -> mean over problems that have samples
    notes: list[str]  # every k that could not be computed, and why


def pass_at_k(counts: dict[str, tuple[int, int]], ks: list[int]) -> PassAtK:
    """Mean pass@k over problems, from {task_id: (n samples, c correct)}.

    A k larger than some problem's sample count is not computed (the estimator is undefined
    there); it is named in `notes` rather than silently dropped.
    """
    scores: dict[str, float] = {}
    notes: list[str] = []
    attempted = {task: nc for task, nc in counts.items() if nc[0] > 0}
    if not attempted:
        return PassAtK({}, ["no problem has samples"])
    smallest = min(n for n, _ in attempted.values())
    for k in sorted(set(ks)):
        short = sum(n < k for n, _ in attempted.values())
        if short:
            notes.append(f"pass@{k} not computed: {short} of {len(attempted)} problems have fewer than {k} samples (fewest: {smallest})")
            continue
        scores[f"pass@{k}"] = float(fmean([estimate_pass_at_k(n, c, k) for n, c in attempted.values()]))
    return PassAtK(scores, notes)
