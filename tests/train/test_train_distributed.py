"""Data-parallel training under torchrun, on CPU with gloo: two processes give one process's losses
for the same global batch; every rank writes its shards of a checkpoint, which resumes at any world
size, with or without FSDP, and survives a rank killed in the middle of a save."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import save_file

from mtp_cli.artifacts import MtpError
from mtp_cli.generate import GenerateConfig, generate_samples
from mtp_cli.model.checkpoint import read_weights
from mtp_cli.train import train
from mtp_cli.train.distributed import World
from mtp_cli.train.metrics import MetricsLog
from mtp_cli.train.resume_point import find_resume_point

from train_helpers import small_config

STEPS, SAVE_EVERY = 6, 3
BATCH_TOKENS = 768  # 6 rows of 128: they split over 1, 2 and 3 processes
REPO = Path(__file__).resolve().parents[2]


def cli_options(data: Path, out: Path) -> list[str]:
    """`mtp train` options for distributed_config(data, out)."""
    return [
        str(data), "--out", str(out), "--preset", "tiny", "--set", "dim=64", "--set", "n_heads=4", "--heads", "4",
        "--steps", str(STEPS), "--batch-tokens", str(BATCH_TOKENS), "--micro-batch", "2", "--lr", "3e-3", "--warmup", "4",
        "--eval-every", "10", "--save-every", str(SAVE_EVERY), "--keep-checkpoints", "2", "--eval-tokens", "1024",
        "--seed", "0",
    ]


def distributed_config(data: Path, out: Path, **changes):
    return small_config(data, out, **{"steps": STEPS, "save_every": SAVE_EVERY, "batch_tokens": BATCH_TOKENS, **changes})


def torchrun_command(*options: str, processes: int = 2) -> list[str]:
    """`torchrun --standalone --nproc-per-node N -m mtp_cli train ...`, as the README documents it."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
            "-m", "mtp_cli", "train", *options]


TORCHRUN_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def torchrun(*options: str, processes: int = 2) -> None:
    done = subprocess.run(torchrun_command(*options, processes=processes), cwd=REPO, capture_output=True, text=True,
                          timeout=240, env=TORCHRUN_ENV)
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


def assert_sharded(folder: Path, world_size: int) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["layout"] == "sharded" and manifest["world_size"] == world_size
    listed = {entry["path"] for entry in manifest["files"]}
    assert {f"state/__{rank}_0.distcp" for rank in range(world_size)} | {"state/.metadata", "trainer.pt"} <= listed
    assert not (folder / "model.safetensors").exists()  # nothing gathered on rank 0


@pytest.fixture(scope="module")
def one_process(tokenized_bpe, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("distributed") / "one"
    train(distributed_config(tokenized_bpe, out))
    return out


def test_two_processes_match_one_and_their_sharded_checkpoint_resumes_in_one(one_process, tokenized_bpe, tmp_path):
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
    assert_sharded(two / "checkpoints" / f"step-{STEPS:06d}", world_size=2)

    resumed = rewind(two, tmp_path / "resumed", SAVE_EVERY)
    result = train(distributed_config(tokenized_bpe, resumed), resume=True)
    assert result.status == "completed"
    assert_same_losses(resumed, one_process, range(SAVE_EVERY + 1, STEPS + 1))
    assert (resumed / "checkpoints" / f"step-{STEPS:06d}" / "model.safetensors").is_file()  # one process: full layout

    # generate reads the sharded checkpoint directly, exactly as its consolidated copy
    sharded = two / "checkpoints" / f"step-{STEPS:06d}"
    consolidated = tmp_path / "consolidated"
    shutil.copytree(sharded, consolidated, ignore=shutil.ignore_patterns("state"))
    save_file({k: v.contiguous() for k, v in read_weights(sharded).items()}, str(consolidated / "model.safetensors"))
    manifest = json.loads((consolidated / "manifest.json").read_text())
    (consolidated / "manifest.json").write_text(json.dumps({**manifest, "files": None}))
    outputs = []
    for folder in (sharded, consolidated):
        config = GenerateConfig(checkpoint=folder, out=tmp_path / f"{folder.name}.jsonl", prompt="def parse(", max_new_tokens=12)
        generate_samples(config)
        outputs.append([json.loads(line)["completion"] for line in config.out.read_text().splitlines()])
    assert outputs[0] == outputs[1] and outputs[0][0]


def test_fsdp_async_sharded_checkpoints_resume_at_world_sizes_1_and_3(one_process, tokenized_bpe, tmp_path):
    # FSDP2 continues a one-process checkpoint, saving sharded state asynchronously at every step.
    fsdp = rewind(one_process, tmp_path / "fsdp", SAVE_EVERY)
    torchrun(str(tokenized_bpe), "--out", str(fsdp), "--resume", "--fsdp", "--activation-checkpointing",
             "--async-checkpoint", "--save-every", "1")
    assert_same_losses(fsdp, one_process, range(SAVE_EVERY + 1, STEPS + 1))
    assert json.loads((fsdp / "manifest.json").read_text())["arguments"]["fsdp"] is True
    assert_sharded(fsdp / "checkpoints" / f"step-{STEPS - 1:06d}", world_size=2)
    sharded, whole = read_weights(fsdp / "checkpoints" / f"step-{STEPS:06d}"), read_weights(one_process / "checkpoints" / f"step-{STEPS:06d}")
    assert sharded.keys() == whole.keys()
    for name, tensor in whole.items():
        assert (sharded[name] - tensor).abs().max() < 1e-5, name

    # its step-5 checkpoint, made by 2 FSDP processes, resumes in 1 process and in 3 without FSDP
    one = rewind(fsdp, tmp_path / "one", STEPS - 1)
    train(distributed_config(tokenized_bpe, one), resume=True)
    assert_same_losses(one, one_process, range(STEPS, STEPS + 1))
    three = rewind(fsdp, tmp_path / "three", STEPS - 1)
    torchrun(str(tokenized_bpe), "--out", str(three), "--resume", processes=3)
    assert_same_losses(three, one_process, range(STEPS, STEPS + 1))
    assert_sharded(three / "checkpoints" / f"step-{STEPS:06d}", world_size=3)


def _worker_of_rank(torchrun_pid: int, rank: int) -> int | None:
    try:
        children = Path(f"/proc/{torchrun_pid}/task/{torchrun_pid}/children").read_text().split()
    except OSError:
        return None
    for child in children:
        try:
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ:
            return int(child)
    return None


def test_kill_9_of_one_rank_during_a_sharded_save_keeps_the_previous_checkpoint(one_process, tokenized_bpe, tmp_path):
    run = tmp_path / "killed"
    options = [*cli_options(tokenized_bpe, run)[:-8], "--save-every", "1", "--keep-checkpoints", "2", "--eval-tokens", "1024", "--seed", "0"]
    agent = subprocess.Popen(torchrun_command(*options), cwd=REPO, env=TORCHRUN_ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints, killed = run / "checkpoints", False
    deadline = time.monotonic() + 300
    while agent.poll() is None and time.monotonic() < deadline and not killed:
        names = os.listdir(checkpoints) if checkpoints.is_dir() else []
        if "latest" in names and any(".partial-" in name for name in names):  # a save under way after a complete one
            worker = _worker_of_rank(agent.pid, 1)
            if worker is not None:
                os.kill(worker, signal.SIGKILL)
                killed = True
        time.sleep(0.002)
    agent.wait(timeout=120)
    assert killed and agent.returncode != 0
    previous = find_resume_point(run)
    assert previous.checkpoint is not None and previous.skipped == []  # the previous checkpoint is complete
    result = train(distributed_config(tokenized_bpe, run, save_every=1), resume=True)
    assert result.status == "completed"
    assert not [p.name for p in checkpoints.iterdir() if ".partial-" in p.name]
    assert_same_losses(run, one_process, range(1, STEPS + 1))


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
