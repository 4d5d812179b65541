"""bench/train.py --data-path runs the real training loop both ways and reports the host's wait."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "bench" / "train.py"


def test_bench_data_path_runs_both_ways(tokenized_bpe, tmp_path):
    results = tmp_path / "data-path.json"
    args = [sys.executable, str(BENCH), "--data-path", "--data", str(tokenized_bpe), "--seq-len", "128", "--batch-tokens", "512",
            "--micro-batch", "2", "--steps", "4", "--skip", "1", "--repeats", "1", "--json", str(results)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "host wait for the batch" in done.stdout and "at step start" in done.stdout
    runs = json.loads(results.read_text())["results"]
    for mode in ("ahead", "at step start"):
        (run,) = runs[mode]
        assert 0 <= run["data_seconds"] < run["step_seconds"]
