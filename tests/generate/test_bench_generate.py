"""bench/generate.py runs end to end on a small checkpoint of each head type and checks its own outputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "bench" / "generate.py"


@pytest.mark.parametrize("fixture", ["checkpoint", "linear_heads_checkpoint"])
def test_bench_generate_runs_and_asserts_identity(fixture, request):
    ckpt = request.getfixturevalue(fixture)
    args = [sys.executable, str(BENCH), str(ckpt), "--prompts", "3", "--max-new-tokens", "12", "--batch-sizes", "1,2"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "outputs identical: yes" in out or "each after a near-tie" in out
    assert "ceiling" in out and "products alone" in out
