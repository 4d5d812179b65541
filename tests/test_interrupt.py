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


def test_ctrl_c_in_pipeline_jobs_as_the_trainings_start(tmp_path):
    """Ctrl-C while the side-by-side trainings are still starting up (importing torch, still in the
    terminal's process group): one interrupted line, no traceback, no run reported as failed."""
    import threading

    import yaml

    from mtp_cli.pipeline import load_recipe_file

    recipe = load_recipe_file(Path(__file__).resolve().parents[1] / "pipelines" / "polynomials.yaml", [
        "synth.train_problems=300", "synth.test_problems=1", "tokenize.seq_len=128", "train.steps=50",
        "train.batch_tokens=512", "train.micro_batch=4", "train.model_overrides={dim: 32, n_layers: 2, n_heads: 2, max_seq_len: 128}",
    ])
    recipe["runs"] = {"n1": {"heads": 1}, "n1-seed1": {"heads": 1, "seed": 1}}
    (tmp_path / "two.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp_path / "out"
    process = start("pipeline", "run", str(tmp_path / "two.yaml"), "--out", str(out), "--jobs", "2")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    both_started = lambda: sum(line.startswith("train/") for line in list(lines)) == 2
    deadline = time.monotonic() + 120
    while not both_started():
        assert process.poll() is None and time.monotonic() < deadline, "".join(lines)
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=120)
    reader.join(timeout=10)
    err = "".join(lines)
    assert process.returncode == 130, err
    assert "interrupted: trainings stopped: " in err
    assert "Traceback" not in err and "error:" not in err and "internal error" not in err
