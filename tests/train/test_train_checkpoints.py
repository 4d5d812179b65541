"""Single-process halves of issue 19: an asynchronous save equals a synchronous one, `--resume auto`,
and batches prepared ahead keep the data order and the sampler's position."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file

from mtp_cli.cli import main
from mtp_cli.cli.train import spell_resume_auto
from mtp_cli.tokenize.reader import TokenizedData
from mtp_cli.train import train
from mtp_cli.train.data import RowSampler, load_rows
from mtp_cli.train.metrics import MetricsLog
from mtp_cli.train.prefetch import BatchPrefetcher

from train_helpers import small_config


def train_losses(run: Path) -> dict[int, list[float]]:
    return {r["step"]: r["head_loss"] for r in MetricsLog(run).read() if r["event"] == "train"}


def test_an_asynchronous_save_equals_a_synchronous_one(tokenized_bpe, tmp_path):
    runs = {}
    for mode in ("sync", "async"):
        runs[mode] = tmp_path / mode
        result = train(small_config(tokenized_bpe, runs[mode], steps=6, save_every=2, keep_checkpoints=3,
                                    async_checkpoint=mode == "async"))
        assert result.checkpoint.name == "step-000006"
    assert json.loads((runs["async"] / "manifest.json").read_text())["latest_checkpoint"] == "step-000006"
    assert train_losses(runs["sync"]) == train_losses(runs["async"])
    for step in ("step-000002", "step-000004", "step-000006"):
        sync, done = runs["sync"] / "checkpoints" / step, runs["async"] / "checkpoints" / step
        weights, async_weights = load_file(str(sync / "model.safetensors")), load_file(str(done / "model.safetensors"))
        assert weights.keys() == async_weights.keys() and all(torch.equal(weights[k], async_weights[k]) for k in weights)
        states = [torch.load(folder / "trainer.pt", weights_only=True)["optimizer"]["state"] for folder in (sync, done)]
        for name in states[0]:
            for key, value in states[0][name].items():
                assert torch.equal(value, states[1][name][key]), (step, name, key)
        state, async_state = (json.loads((f / "trainer_state.json").read_text()) for f in (sync, done))
        assert {**state, "elapsed_seconds": 0} == {**async_state, "elapsed_seconds": 0}  # wall time differs


def test_resume_auto_starts_an_empty_folder_and_continues_one_with_a_checkpoint(run_bpe_n4, tokenized_bpe, tmp_path):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert main(["train", str(tokenized_bpe), "--out", str(fresh), "--preset", "tiny", "--set", "dim=32", "--set", "n_heads=2",
                 "--steps", "2", "--batch-tokens", "256", "--eval-every", "100", "--resume", "auto"]) == 0
    assert json.loads((fresh / "manifest.json").read_text())["status"] == "completed"

    restarted = tmp_path / "restarted"
    shutil.copytree(run_bpe_n4, restarted)
    shutil.rmtree(restarted / "checkpoints" / "step-000040")  # as if the job died after step 35's checkpoint
    result = train(small_config(tokenized_bpe, restarted), resume="auto")
    assert result.status == "completed"
    assert train_losses(restarted) == train_losses(run_bpe_n4)


def test_resume_auto_is_spelled_for_the_parser_only_after_resume():
    assert spell_resume_auto(["train", "d", "--out", "o", "--resume", "auto"]) == ["train", "d", "--out", "o", "--resume-auto"]
    assert spell_resume_auto(["train", "d", "--out", "o", "--resume"]) == ["train", "d", "--out", "o", "--resume"]
    assert spell_resume_auto(["generate", "--resume", "auto"]) == ["generate", "--resume", "auto"]


def test_batches_prepared_ahead_are_the_step_batches_and_leave_the_position(tokenized_bpe):
    split = TokenizedData.open(tokenized_bpe).split("train")
    sampler, reference = RowSampler(len(split), seed=3), RowSampler(len(split), seed=3)
    batches = BatchPrefetcher(split, 4, torch.device("cpu"))
    try:
        for _ in range(3 * len(split) // 8):  # across epoch boundaries
            rows = sampler.take(8)
            inputs, targets = batches.get(rows)
            batches.prepare(sampler.peek(8))
            assert sampler.state_dict() == (reference.take(8), reference.state_dict())[1]  # peek moved nothing
            expected = load_rows(split, rows, 4)
            assert torch.equal(inputs, expected[0]) and torch.equal(targets, expected[1])
        other = [0, 1, 2]  # rows other than the ones prepared: loaded on the spot
        assert torch.equal(batches.get(other)[0], load_rows(split, other, 4)[0])
    finally:
        batches.close()
