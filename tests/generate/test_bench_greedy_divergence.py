"""bench/greedy_divergence.py runs end to end, in both precisions, and writes what its table shows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "bench" / "greedy_divergence.py"


def test_bench_greedy_divergence_runs(checkpoint, tmp_path):
    out = tmp_path / "divergence.json"
    args = [sys.executable, str(BENCH), str(checkpoint), "--prompts", "4", "--max-new-tokens", "12",
            "--batch-size", "2", "--prompt-tokens", "24", "--json", str(out)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())["results"]
    assert [r["precision"] for r in results] == ["fp32", "bf16"]
    for r in results:
        assert r["rows"] == 4 and r["tokens"] == 4 * 12
        assert 0 <= r["shortfall_greedy"] and 0 <= r["shortfall_speculative"]
    assert "held" in done.stdout and "BROKEN" not in done.stdout
