"""Data-parallel training under torchrun, on CPU with gloo: two processes give one process's losses
for the same global batch, and checkpoints move between world sizes and between DDP and FSDP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from mtp_cli.artifacts import MtpError
from mtp_cli.train import train
from mtp_cli.train.distributed import World
from mtp_cli.train.metrics import MetricsLog

from train_helpers import small_config

STEPS, SAVE_EVERY = 6, 3
REPO = Path(__file__).resolve().parents[2]


def cli_options(data: Path, out: Path) -> list[str]:
    """`mtp train` options for small_config(data, out, steps=STEPS, save_every=SAVE_EVERY)."""
    return [
        str(data), "--out", str(out), "--preset", "tiny", "--set", "dim=64", "--set", "n_heads=4", "--heads", "4",
        "--steps", str(STEPS), "--batch-tokens", "512", "--micro-batch", "2", "--lr", "3e-3", "--warmup", "4",
        "--eval-every", "10", "--save-every", str(SAVE_EVERY), "--keep-checkpoints", "2", "--eval-tokens", "1024",
        "--seed", "0",
    ]


def torchrun(*options: str) -> None:
    """`torchrun --standalone --nproc-per-node 2 -m mtp_cli train ...`, as the README documents it."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "mtp_cli", "train", *options]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


def train_losses(run: Path) -> dict[int, list[float]]:
    return {r["step"]: r["head_loss"] for r in MetricsLog(run).read() if r["event"] == "train"}


def assert_same_losses(run: Path, reference: Path, steps: range) -> None:
    got, expected = train_losses(run), train_losses(reference)
    assert sorted(got) == list(range(1, STEPS + 1))
    for step in steps:
        assert got[step] == pytest.approx(expected[step], rel=1e-5), step


def rewind(run: Path, to: Path, step: int) -> Path:
    """A copy of `run` as if it had stopped right after saving `step`."""
    shutil.copytree(run, to)
    checkpoints = to / "checkpoints"
    for folder in checkpoints.glob("step-*"):
        if int(folder.name.split("-")[1]) > step:
            shutil.rmtree(folder)
    (checkpoints / "latest").write_text(f"step-{step:06d}\n")
    return to


@pytest.fixture(scope="module")
def one_process(tokenized_bpe, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("distributed") / "one"
    train(small_config(tokenized_bpe, out, steps=STEPS, save_every=SAVE_EVERY))
    return out


def test_two_processes_match_one_and_their_checkpoint_resumes_in_one(one_process, tokenized_bpe, tmp_path):
    two = tmp_path / "two"
    torchrun(*cli_options(tokenized_bpe, two), "--peak-tflops", "1", "--log-to", "tensorboard")
    assert_same_losses(two, one_process, range(1, STEPS + 1))
    assert len(list((two / "tensorboard").glob("events.out.tfevents.*"))) == 1  # rank 0 only
    evals = [r for r in MetricsLog(two).read() if r["event"] == "eval"]
    reference = [r for r in MetricsLog(one_process).read() if r["event"] == "eval"]
    assert evals[-1]["head_loss"] == pytest.approx(reference[-1]["head_loss"], rel=1e-5)
    manifest = json.loads((two / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["world_size"] == 2
    assert all(r["mfu"] > 0 for r in MetricsLog(two).read() if r["event"] == "train")  # --peak-tflops given
    assert all(r["mfu"] is None for r in MetricsLog(one_process).read() if r["event"] == "train")  # CPU: unknown

    resumed = rewind(two, tmp_path / "resumed", SAVE_EVERY)
    result = train(small_config(tokenized_bpe, resumed, steps=STEPS, save_every=SAVE_EVERY), resume=True)
    assert result.status == "completed"
    assert_same_losses(resumed, one_process, range(SAVE_EVERY + 1, STEPS + 1))


def test_fsdp_resumes_a_one_process_checkpoint_and_saves_full_weights(one_process, tokenized_bpe, tmp_path):
    out = rewind(one_process, tmp_path / "fsdp", SAVE_EVERY)
    torchrun(str(tokenized_bpe), "--out", str(out), "--resume", "--fsdp", "--activation-checkpointing")
    assert_same_losses(out, one_process, range(SAVE_EVERY + 1, STEPS + 1))
    last = f"checkpoints/step-{STEPS:06d}/model.safetensors"
    sharded, whole = load_file(str(out / last)), load_file(str(one_process / last))
    assert sharded.keys() == whole.keys()
    for name, tensor in whole.items():
        assert (sharded[name] - tensor).abs().max() < 1e-5, name
    assert json.loads((out / "manifest.json").read_text())["arguments"]["fsdp"] is True


def test_each_rank_takes_its_contiguous_share_of_a_step():
    rows = list(range(8))
    shares = [rows[World(rank=r, size=4).share(8)] for r in range(4)]
    assert shares == [[0, 1], [2, 3], [4, 5], [6, 7]]
    with pytest.raises(MtpError, match="do not split evenly over 3 processes"):
        World(rank=0, size=3).share(8)


def test_an_fsdp_run_resumes_in_one_process_with_no_fsdp(one_process, tokenized_bpe, tmp_path, capsys):
    """Every boolean has --x/--no-x: a run trained with --fsdp under torchrun continues in one process
    with --resume --no-fsdp, from a checkpoint FSDP wrote, with the uninterrupted run's losses."""
    from mtp_cli.cli import main

    fsdp = tmp_path / "fsdp"
    torchrun(*cli_options(tokenized_bpe, fsdp), "--fsdp")
    assert json.loads((fsdp / "manifest.json").read_text())["arguments"]["fsdp"] is True
    resumed = rewind(fsdp, tmp_path / "resumed", SAVE_EVERY)
    assert main(["train", str(tokenized_bpe), "--out", str(resumed), "--resume"]) == 2  # still asks for FSDP
    assert "--fsdp shards the model over a process group" in capsys.readouterr().err
    assert main(["train", str(tokenized_bpe), "--out", str(resumed), "--resume", "--no-fsdp"]) == 0
    assert_same_losses(resumed, one_process, range(SAVE_EVERY + 1, STEPS + 1))
    assert_same_losses(resumed, fsdp, range(SAVE_EVERY + 1, STEPS + 1))
    assert json.loads((resumed / "manifest.json").read_text())["arguments"]["fsdp"] is False
