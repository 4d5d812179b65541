"""Ctrl-C in a real `mtp` process: the interrupted line, exit code 130, nothing half-written.

The signal goes to the whole process group, as a terminal's Ctrl-C does (tokenize's workers too).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mtp_cli.tokenize.sources import stdlib_root


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mtp_cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def interrupt_when(process: subprocess.Popen, ready, timeout: float = 120) -> tuple[int, str]:
    """SIGINT the process group once `ready()` holds; its exit code and stderr."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the command never got to work"
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=120)
    return process.returncode, err


def test_ctrl_c_in_tokenize(tmp_path):
    out = tmp_path / "data"
    process = start("tokenize", str(stdlib_root()), "--tokenizer", "bytes", "--workers", "2", "--out", str(out))
    started = lambda: any(p.name != "data" for p in tmp_path.iterdir())  # the staging folder beside --out
    code, err = interrupt_when(process, started)
    assert code == 130, err
    assert "interrupted: nothing half-written was left behind" in err
    assert "Traceback" not in err and "internal error" not in err
    assert not out.exists()


def test_ctrl_c_in_train(tokenized_bytes: Path, tmp_path):
    out = tmp_path / "run"
    process = start("train", str(tokenized_bytes), "--out", str(out), "--set", "dim=64", "--set", "n_heads=4",
                    "--steps", "100000", "--batch-tokens", "512", "--micro-batch", "2", "--save-every", "100000")
    stepping = lambda: (out / "metrics.jsonl").exists() and (out / "metrics.jsonl").stat().st_size > 0
    code, err = interrupt_when(process, stepping)
    assert code == 130, err
    assert "interrupted at step" in err and "continue with --resume" in err
    assert "Traceback" not in err and "internal error" not in err
    assert (out / "checkpoints" / "latest").exists()
