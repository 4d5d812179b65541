"""Logs on clusters: when stderr is not a terminal (SLURM, CI, nohup; here pytest's capture), every
long step prints a plain progress line every --log-every seconds instead of a live display."""

from __future__ import annotations

import re

from mtp_cli.cli import main

CLOCK = r"\d\d:\d\d:\d\d"


def lines_matching(text: str, pattern: str) -> list[str]:
    return [line for line in text.splitlines() if re.search(pattern, line)]


def test_train_generate_eval_print_periodic_lines(tokenized_bytes, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(tokenized_bytes), "--out", str(run), "--set", "dim=32", "--set", "n_heads=2",
                 "--set", "n_layers=3", "--heads", "2", "--steps", "6", "--batch-tokens", "512", "--micro-batch", "2",
                 "--eval-every", "3", "--eval-tokens", "512", "--log-every", "0.001"]) == 0
    err = capsys.readouterr().err
    steps = lines_matching(err, rf"^{CLOCK} step \d+/6, tokens [\d,]+, loss per head [\d. ]+, [\d,]+ tok/s, lr .*, ETA {CLOCK}$")
    assert len(steps) == 6, err  # a line per step: each step takes longer than 1 ms
    assert len(lines_matching(err, rf"^{CLOCK} step [36]: validation loss per head")) == 2

    samples = tmp_path / "s.jsonl"
    assert main(["generate", str(run), "--dataset", "humaneval", "--limit", "3", "--max-new-tokens", "4",
                 "--batch-size", "1", "--out", str(samples), "--log-every", "0.001"]) == 0
    err = capsys.readouterr().err
    assert lines_matching(err, rf"^{CLOCK} generating: \d prompts of 3 \(\d+%\), [\d.]+ prompts/s, [\d,]+ tokens \([\d,]+ tokens/s\), elapsed")

    assert main(["eval", "pass@k", str(samples), "-d", "humaneval", "--k", "1", "--workers", "1",
                 "--out", str(tmp_path / "e"), "--log-every", "0.001"]) == 0
    err = capsys.readouterr().err
    assert lines_matching(err, rf"^{CLOCK} running programs: 3 programs of 3 \(100%\), [\d.]+ programs/s")


def test_tokenize_prints_files_rate_and_eta_and_bpe_progress(corpus_dirs, tmp_path, capsys):
    out = tmp_path / "data"
    assert main(["tokenize", corpus_dirs[0], "--tokenizer", "bpe", "--vocab-size", "300", "--seq-len", "64",
                 "--workers", "1", "--out", str(out), "--log-every", "0.01"]) == 0
    err = capsys.readouterr().err
    assert lines_matching(err, rf"^{CLOCK} reading corpus to train BPE: [\d.]+ [KM]?B  [\d.]+ [KM]?B/s of [\d.]+ [KM]?B")
    assert lines_matching(err, rf"^{CLOCK} training BPE merges")
    tokenizing = lines_matching(err, rf"^{CLOCK} tokenizing: [\d.]+ [KM]?B  [\d.]+ [KM]?B/s of [\d.]+ [KM]?B \(\d+%\), [\d,]+ files \([\d,]+ files/s\), [\d,]+ tokens \([\d,]+ tokens/s\), elapsed {CLOCK}")
    assert tokenizing and re.search(rf"ETA {CLOCK}", tokenizing[-1])
    assert "━" not in err  # no rich bar frames in a log


def test_log_every_must_be_positive(tmp_path, capsys):
    assert main(["tokenize", "--out", str(tmp_path / "d"), "--log-every", "0"]) == 2
    assert "--log-every must be a positive number of seconds" in capsys.readouterr().err
