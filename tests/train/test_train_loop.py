"""End-to-end training: the loss falls, metrics and checkpoints are written, resume is exact."""

from __future__ import annotations

import json
import os
import signal

import torch

from mtp_cli.train.observer import NullObserver
from mtp_cli.model import load_checkpoint
from mtp_cli.train import train
from mtp_cli.train.metrics import MetricsLog

from train_helpers import STEPS, small_config


def train_losses(run) -> dict[int, list[float]]:
    return {r["step"]: r["head_loss"] for r in MetricsLog(run).read() if r["event"] == "train"}


def assert_loss_falls(run, heads: int) -> None:
    losses = train_losses(run)
    assert sorted(losses) == list(range(1, STEPS + 1))
    for k in range(heads):
        first = sum(losses[s][k] for s in (1, 2, 3)) / 3
        last = sum(losses[s][k] for s in range(STEPS - 4, STEPS + 1)) / 5
        assert last < first - 0.5, (k, first, last)
    evals = [r for r in MetricsLog(run).read() if r["event"] == "eval"]
    assert [e["step"] for e in evals] == [10, 20, 30, 40]
    assert all(len(e["head_loss"]) == heads for e in evals)
    assert evals[-1]["head_loss"][0] < evals[0]["head_loss"][0]


def test_loss_falls_n4_bpe(run_bpe_n4):
    assert_loss_falls(run_bpe_n4, heads=4)
    record = MetricsLog(run_bpe_n4).read()[-2]
    assert record["event"] == "train" and len(record["head_accuracy"]) == 4
    assert 0 < record["head_accuracy"][0] <= 1


def test_loss_falls_n1_bytes(run_bytes_n1):
    assert_loss_falls(run_bytes_n1, heads=1)


def test_run_folder_layout(run_bpe_n4, tokenized_bpe):
    manifest = json.loads((run_bpe_n4 / "manifest.json").read_text())
    assert manifest["kind"] == "run" and manifest["status"] == "completed" and manifest["step"] == STEPS
    assert manifest["latest_checkpoint"] == "step-000040" and manifest["model"]["n_future_tokens"] == 4
    checkpoints = run_bpe_n4 / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir() if not p.name.startswith(".")) == ["latest", "step-000035", "step-000040"]
    assert (checkpoints / "latest").read_text().strip() == "step-000040"
    step = checkpoints / "step-000040"
    assert {p.name for p in step.iterdir()} >= {"model.safetensors", "mtp_config.json", "tokenizer_config.json", "tokenizer.json", "trainer.pt", "trainer_state.json", "manifest.json"}
    assert (step / "tokenizer.json").read_text() == (tokenized_bpe / "tokenizer.json").read_text()
    state = json.loads((step / "trainer_state.json").read_text())
    assert state["step"] == STEPS and state["tokens_seen"] == STEPS * 512 and {"epoch", "cursor"} <= set(state["sampler"])


def test_checkpoint_loads_without_the_trainer(run_bpe_n4, tokenized_bpe):
    model, config, tokenizer_json = load_checkpoint(run_bpe_n4)
    assert config.n_future_tokens == 4 and config.vocab_size == 512
    assert tokenizer_json == (tokenized_bpe / "tokenizer.json").read_text()
    with torch.no_grad():
        logits = model(torch.zeros(1, 5, dtype=torch.long)).logits
    assert logits.shape == (1, 5, 4, 512) and torch.isfinite(logits).all()


def test_ctrl_c_saves_and_resume_equals_uninterrupted(run_bpe_n4, tokenized_bpe, tmp_path):
    out = tmp_path / "resumed"

    class InterruptAtTen(NullObserver):
        def on_step(self, record):
            if record["step"] == 10:
                os.kill(os.getpid(), signal.SIGINT)

    # save_every=7 so that the checkpoint at step 10 comes from the interruption itself
    first = train(small_config(tokenized_bpe, out, save_every=7), observer=InterruptAtTen())
    assert first.status == "interrupted" and first.step == 10 and first.checkpoint.name == "step-000010"
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"

    # a longer run leaves metrics after the checkpoint behind; resume must drop them
    with open(out / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"event": "train", "step": 11, "head_loss": [0.0] * 4}) + "\n")
    second = train(small_config(tokenized_bpe, out, save_every=7), resume=True)
    assert second.status == "completed" and second.step == STEPS
    resumed, reference = train_losses(out), train_losses(run_bpe_n4)
    assert sorted(resumed) == list(range(1, STEPS + 1))
    for step in (11, 20, STEPS):
        assert resumed[step] == reference[step], step


def test_resume_may_change_micro_batch_only_in_execution(run_bpe_n4, tokenized_bpe, tmp_path):
    """Different micro-batching is the same computation up to float rounding."""
    out = tmp_path / "micro"
    train(small_config(tokenized_bpe, out, steps=4, micro_batch=4, save_every=100))  # 4 steps: all in warmup, as in the reference
    reference = train_losses(run_bpe_n4)
    for step, losses in train_losses(out).items():
        for a, b in zip(losses, reference[step]):
            assert abs(a - b) < 1e-4
