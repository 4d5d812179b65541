"""Training with the paper's alternative heads (--head-type causal|anticausal) and a window head
(--window-loss w): through the CLI, in the metrics, in validation, and when fine-tuning."""

from __future__ import annotations

import torch

from mtp_cli.cli import main
from mtp_cli.model import load_checkpoint
from mtp_cli.train import Trainer
from mtp_cli.train.metrics import MetricsLog

from train_helpers import small_config


def test_cli_trains_causal_heads_with_a_window_head(tokenized_bpe, tmp_path):
    out = tmp_path / "causal"
    args = ["train", str(tokenized_bpe), "--out", str(out), "--set", "dim=64", "--set", "n_heads=4", "--heads", "3",
            "--steps", "6", "--batch-tokens", "512", "--eval-every", "3", "--eval-tokens", "1024",
            "--head-type", "causal", "--window-loss", "8", "--window-weight", "0.5"]
    assert main(args) == 0
    model, config, _ = load_checkpoint(out)
    assert (config.head_type, config.window_size, config.n_future_tokens) == ("causal", 8, 3)
    assert model.window_head is not None
    records = MetricsLog(out).read()
    train_records = [r for r in records if r["event"] == "train"]
    evals = [r for r in records if r["event"] == "eval"]
    assert train_records and evals
    for record in train_records + evals:
        assert record["window_loss"] > 0 and 0 <= record["window_recall"] <= 1
    first = train_records[0]
    assert abs(first["loss"] - (sum(first["head_loss"]) + 0.5 * first["window_loss"])) < 1e-3
    assert train_records[-1]["window_loss"] < first["window_loss"]  # it learns


def test_anticausal_heads_refuse_a_frozen_trunk(run_bytes_n1, tokenized_bytes, tmp_path, capsys):
    args = ["train", str(tokenized_bytes), "--out", str(tmp_path / "ft"), "--init-from", str(run_bytes_n1),
            "--heads", "3", "--head-type", "anticausal", "--freeze-trunk", "--steps", "2"]
    assert main(args) == 2
    assert "anticausal head 1 reads every extra head" in capsys.readouterr().err


def test_one_head_to_causal_draft_heads_and_a_window_head(run_bytes_n1, tokenized_bytes, tmp_path):
    source, _, _ = load_checkpoint(run_bytes_n1)
    overrides = {"head_type": "causal", "window_size": 4}
    trainer = Trainer(small_config(tokenized_bytes, tmp_path / "ft", heads=3, init_from=run_bytes_n1, freeze_trunk=True,
                                   model_overrides=overrides, steps=3, lr=1e-3))
    model = trainer.model
    assert model.config.head_type == "causal" and model.n_future_tokens == 3
    head_one = model.head_module(0).state_dict()
    for name, tensor in model.window_head.block.state_dict().items():  # a new window head starts as head 1
        assert torch.equal(tensor, head_one[name])
    assert trainer.run().status == "completed"
    trained, _, _ = load_checkpoint(tmp_path / "ft")
    for name, tensor in source.state_dict().items():  # the next-token model is untouched
        assert torch.equal(trained.state_dict()[name], tensor), name
    assert not torch.equal(trained.extra_heads[1].attention.wq.weight, head_one["attention.wq.weight"])
