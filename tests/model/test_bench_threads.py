"""bench/threads.py runs end to end (shrunk) and prints every workload under both conditions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "bench" / "threads.py"


def test_bench_threads_runs():
    args = [sys.executable, str(BENCH), "--repeats", "1", "--new-tokens", "4", "--rows", "1", "--seq-len", "64", "--many", "1"]  # 1: no waiting threads, fast
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, env={"COLUMNS": "200", "PATH": ""})
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "1 against 1" in out
    for work in ("train step (1 x 64 tokens)", "greedy decoding", "speculative decoding"):
        assert out.count(work) == 2, out  # beside nothing of ours, and beside a busy process
