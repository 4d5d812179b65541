"""Runs that survive crashes: one writer per run folder, damaged checkpoints skipped, durable saves,
a full disk, and kill -9 in the middle of a save."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from mtp_cli.artifacts import LOCK_NAME, MtpError, acquire_folder_lock
from mtp_cli.artifacts.disk_space import DiskFull
from mtp_cli.cli import main
from mtp_cli.train import NullObserver, train
from mtp_cli.train.metrics import MetricsLog
from mtp_cli.train.resume_point import find_resume_point

from train_helpers import STEPS, small_config

REPO = Path(__file__).resolve().parents[2]
LATEST, PREVIOUS = "step-000040", "step-000035"


def train_losses(run: Path) -> dict[int, list[float]]:
    return {r["step"]: r["head_loss"] for r in MetricsLog(run).read() if r["event"] == "train"}


def assert_losses_equal_uninterrupted(run: Path, reference: Path) -> None:
    got, expected = train_losses(run), train_losses(reference)
    assert sorted(got) == list(range(1, STEPS + 1))
    assert all(got[step] == expected[step] for step in got)


def hidden_leftovers(run: Path) -> list[str]:
    return [p.name for folder in (run, run / "checkpoints") for p in folder.iterdir() if p.name.startswith(".") and p.name != LOCK_NAME]


class Notices(NullObserver):
    def __init__(self):
        self.lines: list[str] = []

    def on_notice(self, message: str) -> None:
        self.lines.append(message)


# ---- one writer per run folder ----------------------------------------------------------------

LOCK_HOLDER = """
import sys, time
from pathlib import Path
from mtp_cli.artifacts import acquire_folder_lock
with acquire_folder_lock(Path(sys.argv[1]), "mtp train"):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_a_second_writer_is_refused_naming_the_holders_pid(run_bpe_n4, tokenized_bpe, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(run_bpe_n4, run)
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(run)], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "locked"
        metrics = (run / "metrics.jsonl").read_bytes()
        assert main(["train", str(tokenized_bpe), "--out", str(run), "--resume"]) == 2
        err = capsys.readouterr().err
        assert f"{run} is in use by mtp train (pid {holder.pid}); wait for it or use another --out" in " ".join(err.split())
        assert (run / "metrics.jsonl").read_bytes() == metrics  # nothing touched
    finally:
        holder.kill()
        holder.wait()
    with acquire_folder_lock(run, "mtp train"):  # the kernel released the dead holder's lock
        with pytest.raises(MtpError, match=rf"in use by mtp train \(pid {os.getpid()}\)"):
            with acquire_folder_lock(run, "mtp train"):
                pass


def test_a_refused_new_run_leaves_no_folder(tokenized_bpe, tmp_path):
    out = tmp_path / "new"
    with pytest.raises(MtpError, match="--loss-weights"):
        train(small_config(tokenized_bpe, out, loss_weights=[1.0]))
    assert not out.exists()


# ---- damaged checkpoints ------------------------------------------------------------------------

def corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8] = b"\x00\xffgarbag"
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def poison_with_nan(path: Path) -> None:
    """Same size and header, one tensor's values NaN: only the content is wrong."""
    if path.suffix == ".safetensors":
        tensors = load_file(str(path))
        name = sorted(tensors)[0]
        tensors[name] = torch.full_like(tensors[name], float("nan"))
        save_file(tensors, str(path), metadata={"format": "pt"})
    else:
        state = torch.load(path, weights_only=True)
        moments = next(iter(state["optimizer"]["state"].values()))
        moments["exp_avg"].fill_(float("nan"))
        torch.save(state, path)


DAMAGES = {"corrupt": corrupt, "truncate": truncate, "nan": poison_with_nan}
FILES = ["model.safetensors", "trainer.pt", "trainer_state.json", "mtp_config.json", "tokenizer_config.json", "tokenizer.json", "manifest.json"]
CASES = [(f, d) for f in FILES for d in ("corrupt", "truncate")] + [("model.safetensors", "nan"), ("trainer.pt", "nan")]


@pytest.mark.parametrize("name,damage", CASES)
def test_each_damaged_file_of_the_latest_checkpoint_is_detected(run_bpe_n4, tmp_path, name, damage):
    run = tmp_path / "run"
    shutil.copytree(run_bpe_n4, run)
    assert find_resume_point(run).checkpoint.name == LATEST
    DAMAGES[damage](run / "checkpoints" / LATEST / name)
    point = find_resume_point(run)
    assert point.checkpoint.name == PREVIOUS
    assert [n for n, _ in point.skipped] == [LATEST]


@pytest.mark.parametrize("name,damage", [("model.safetensors", "nan"), ("trainer.pt", "truncate"), ("trainer_state.json", "corrupt")])
def test_resume_skips_a_damaged_latest_checkpoint_with_one_line(run_bpe_n4, tokenized_bpe, tmp_path, name, damage):
    run = tmp_path / "run"
    shutil.copytree(run_bpe_n4, run)
    DAMAGES[damage](run / "checkpoints" / LATEST / name)
    notices = Notices()
    result = train(small_config(tokenized_bpe, run), resume=True, observer=notices)
    assert result.status == "completed" and result.step == STEPS
    assert len(notices.lines) == 1 and notices.lines[0].startswith(f"checkpoint {LATEST} is damaged ({name}")
    assert notices.lines[0].endswith(f"resuming from {PREVIOUS}")
    assert (run / "checkpoints" / f"damaged-{LATEST}").is_dir()
    assert (run / "checkpoints" / "latest").read_text().strip() == LATEST  # saved again, whole
    assert_losses_equal_uninterrupted(run, run_bpe_n4)


def test_resume_refuses_when_no_checkpoint_is_complete(run_bpe_n4, tokenized_bpe, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_bpe_n4, run)
    truncate(run / "checkpoints" / LATEST / "model.safetensors")
    corrupt(run / "checkpoints" / PREVIOUS / "trainer.pt")
    with pytest.raises(MtpError, match="has no complete checkpoint") as refused:
        train(small_config(tokenized_bpe, run), resume=True)
    assert LATEST in refused.value.message and PREVIOUS in refused.value.message
    assert (run / "checkpoints" / LATEST).is_dir()  # nothing moved when refusing


def test_generate_refuses_non_finite_and_truncated_weights(run_bpe_n4, tmp_path, capsys):
    poisoned, cut = tmp_path / "poisoned", tmp_path / "cut"
    for folder, damage in ((poisoned, poison_with_nan), (cut, truncate)):
        shutil.copytree(run_bpe_n4 / "checkpoints" / LATEST, folder)
        damage(folder / "model.safetensors")
        assert main(["generate", str(folder), "--prompt", "def f(", "--max-new-tokens", "2", "--out", str(tmp_path / "s.jsonl")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "non-finite values (NaN or inf)" in err
    assert f"{cut} is not a complete mtp checkpoint: model.safetensors has" in err
    assert not (tmp_path / "s.jsonl").exists()


# ---- durable saves -----------------------------------------------------------------------------

def test_files_and_folders_are_flushed_before_renames_and_latest(tokenized_bpe, tmp_path, monkeypatch):
    import mtp_cli.artifacts.atomic as atomic

    events: list[tuple[str, str]] = []
    real_fsync, real_replace = atomic.fsync_path, os.replace
    monkeypatch.setattr(atomic, "fsync_path", lambda p: (events.append(("fsync", str(p))), real_fsync(p)))
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: (events.append(("replace", f"{a} -> {b}")), real_replace(a, b)))
    run = tmp_path / "run"
    train(small_config(tokenized_bpe, run, steps=1, save_every=100, eval_every=100))
    checkpoints = run / "checkpoints"
    folder = checkpoints / "step-000001"
    rename = next(i for i, (kind, what) in enumerate(events) if kind == "replace" and what.endswith(f"-> {folder}"))
    staging = events[rename][1].split(" -> ")[0]
    flushed = {what for kind, what in events[:rename] if kind == "fsync"}
    assert {f"{staging}/{p.name}" for p in folder.iterdir()} | {staging} <= flushed
    latest = next(i for i, (kind, what) in enumerate(events) if kind == "replace" and what.endswith(f"-> {checkpoints / 'latest'}"))
    assert rename < latest
    assert ("fsync", str(checkpoints)) in events[rename:latest]  # the new folder's name is on disk first
    assert ("fsync", str(checkpoints)) in events[latest:]


def test_leftovers_of_a_killed_save_are_removed_at_the_next_start(run_bpe_n4, tokenized_bpe, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_bpe_n4, run)
    shutil.rmtree(run / "checkpoints" / LATEST)
    (run / "checkpoints" / ".step-000040.partial-0badc0de").mkdir()
    (run / "checkpoints" / ".step-000040.partial-0badc0de" / "model.safetensors").write_bytes(b"half")
    (run / "checkpoints" / ".latest.tmp-0badc0de").write_text("step-000040")
    (run / ".manifest.json.tmp-0badc0de").write_text("{")
    result = train(small_config(tokenized_bpe, run), resume=True)
    assert result.status == "completed"
    assert hidden_leftovers(run) == []
    assert_losses_equal_uninterrupted(run, run_bpe_n4)


# ---- a full disk -------------------------------------------------------------------------------

@pytest.mark.parametrize("when", ["before writing", "while writing"])
def test_a_full_disk_fails_in_one_line_and_resume_works_after_freeing_space(
    run_bpe_n4, tokenized_bpe, small_tmpfs, monkeypatch, when
):
    # A checkpoint of the test model takes 5.6 MB: on 16 MB the third one (step 15) does not fit.
    disk = small_tmpfs("16m")
    run = disk / "run"
    if when == "while writing":  # skip the up-front check, so the disk fills in the middle of trainer.pt
        import mtp_cli.train.checkpoint_writer as writer

        monkeypatch.setattr(writer, "check_free_space", lambda *args: None)
    with pytest.raises(DiskFull) as full:
        train(small_config(tokenized_bpe, run))
    message = full.value.message
    assert message.startswith(f"disk full: writing {run / 'checkpoints'}") and " bytes, " in message and "\n" not in message
    assert "--resume" in full.value.hint
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["failure"] == message
    assert hidden_leftovers(run) == []
    assert find_resume_point(run).checkpoint.name == "step-000010"  # the previous checkpoint is whole
    subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
    monkeypatch.undo()
    result = train(small_config(tokenized_bpe, run), resume=True)
    assert result.status == "completed"
    assert_losses_equal_uninterrupted(run, run_bpe_n4)


def test_a_full_disk_in_the_cli_is_one_line_and_exit_2(tokenized_bpe, small_tmpfs, capsys):
    disk = small_tmpfs("3m")
    assert main(["train", str(tokenized_bpe), "--out", str(disk / "run"), "--preset", "tiny", "--set", "dim=64",
                 "--set", "n_heads=4", "--steps", "2", "--batch-tokens", "256", "--eval-every", "100"]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith(("error:", "hint:"))]
    assert lines[0].startswith(f"error: disk full: writing {disk / 'run' / 'checkpoints'} needs about")
    assert lines[1].startswith("hint: free space on that filesystem, then continue with --resume")


# ---- kill -9 at random points of a save ---------------------------------------------------------

def test_kill_9_during_saves_leaves_nothing_partial_after_the_next_start(run_bpe_n4, tokenized_bpe, tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "mtp_cli", "train", str(tokenized_bpe), "--out", str(run), "--preset", "tiny",
               "--set", "dim=64", "--set", "n_heads=4", "--heads", "4", "--steps", str(STEPS), "--batch-tokens", "512",
               "--micro-batch", "2", "--lr", "3e-3", "--warmup", "4", "--eval-every", "10", "--save-every", "1",
               "--keep-checkpoints", "2", "--eval-tokens", "1024", "--seed", "0"]
    chance = random.Random(16)
    kills = 0
    for attempt in range(3):
        process = subprocess.Popen(command + (["--resume"] if attempt else []), cwd=REPO, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:  # wait for a save to be under way
            checkpoints = run / "checkpoints"
            if checkpoints.is_dir() and any(".partial-" in name for name in os.listdir(checkpoints)):
                time.sleep(chance.uniform(0, 0.05))  # somewhere in the save: its files, the rename, `latest`
                process.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.001)
        process.wait()
    assert kills >= 2
    result = train(small_config(tokenized_bpe, run, save_every=1), resume=True)
    assert result.status == "completed"
    assert hidden_leftovers(run) == []
    assert_losses_equal_uninterrupted(run, run_bpe_n4)
