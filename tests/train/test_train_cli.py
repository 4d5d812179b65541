"""`mtp train` on the command line: options reach the config, errors exit 2."""

from __future__ import annotations

import json

from mtp_cli.cli import main


def test_train_command_runs_and_resumes(tokenized_bpe, tmp_path, capsys):
    out = tmp_path / "run"
    args = [
        "train", str(tokenized_bpe), "--out", str(out), "--heads", "2", "--steps", "3", "--batch-tokens", "256",
        "--micro-batch", "1", "--set", "dim=32", "--set", "n_heads=2", "--loss-weights", "1,0.5",
        "--head-type", "linear", "--eval-every", "2", "--eval-tokens", "256", "--save-every", "2",
    ]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "ETA" in err and err.endswith("\n")  # the live display is ended by a newline, in a file too
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["model"]["head_type"] == "linear"
    assert manifest["model"]["dim"] == 32 and manifest["arguments"]["loss_weights"] == [1.0, 0.5]
    assert manifest["plan"]["rows_per_step"] == 2
    # --resume needs only the folder; repeating an option with the same value is fine
    assert main(["train", str(tokenized_bpe), "--out", str(out), "--resume", "--heads", "2"]) == 0
    assert main(["train", str(tokenized_bpe), "--out", str(out), "--resume", "--heads", "3"]) == 2
    # model options add to the run's overrides: the same model resumes, another is refused
    resume = ["train", str(tokenized_bpe), "--out", str(out), "--resume"]
    assert main([*resume, "--no-tie-embeddings", "--head-type", "linear", "--set", "dim=32"]) == 0
    assert main([*resume, "--tie-embeddings"]) == 2
    assert "model_overrides" in capsys.readouterr().err


def test_train_command_user_errors_exit_2(tokenized_bpe, tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", str(tokenized_bpe), "--out", out, "--set", "width=3"]) == 2
    assert main(["train", str(tokenized_bpe), "--out", out, "--loss-weights", "1,x"]) == 2
    assert main(["train", str(tokenized_bpe), "--out", out, "--heads", "2", "--loss-weights", "1"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "hint:" in err
