"""Every input `mtp train` refuses, with a one-line MtpError before any work."""

from __future__ import annotations

import json

import pytest
import torch

from mtp_cli.train.observer import NullObserver
from mtp_cli.artifacts import MtpError
from mtp_cli.train import NonFiniteLoss, Trainer, train
from mtp_cli.train.metrics import MetricsLog

from train_helpers import small_config


def refused(match: str, config_or_callable) -> None:
    with pytest.raises(MtpError, match=match):
        config_or_callable() if callable(config_or_callable) else train(config_or_callable)


def test_model_must_fit_the_data(tokenized_bpe, tmp_path):
    refused("vocabulary \\(100\\) is smaller", small_config(tokenized_bpe, tmp_path / "a", model_overrides={"dim": 64, "n_heads": 4, "vocab_size": 100}))
    refused("context is 64", small_config(tokenized_bpe, tmp_path / "b", model_overrides={"dim": 64, "n_heads": 4, "max_seq_len": 64}))
    refused("leave no trunk", small_config(tokenized_bpe, tmp_path / "c", heads=6))


def test_option_combinations(tokenized_bpe, tmp_path):
    refused("--steps and --tokens", lambda: small_config(tokenized_bpe, tmp_path, tokens=1000))
    refused("3 values for 4 heads", lambda: small_config(tokenized_bpe, tmp_path, loss_weights=[1, 1, 1]))
    refused("not all zero", lambda: small_config(tokenized_bpe, tmp_path, loss_weights=[0, 0, 0, 0]))
    refused("needs a trained model", lambda: small_config(tokenized_bpe, tmp_path, freeze_trunk=True))
    refused("nothing to train", lambda: small_config(tokenized_bpe, tmp_path, heads=1, freeze_trunk=True, init_from=tmp_path))
    refused("--micro-batch must be at least 1", lambda: small_config(tokenized_bpe, tmp_path, micro_batch=0))
    refused("unknown preset", small_config(tokenized_bpe, tmp_path / "p", preset="huge"))


def test_output_folder_and_resume_checks(run_bpe_n4, tokenized_bpe, tokenized_bytes, tmp_path):
    refused("already holds an mtp run", small_config(tokenized_bpe, run_bpe_n4))
    refused("holds no run", lambda: train(small_config(tokenized_bpe, tmp_path / "none"), resume=True))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    refused("not an mtp artifact", small_config(tokenized_bpe, foreign))
    refused("different config: lr", lambda: train(small_config(tokenized_bpe, run_bpe_n4, lr=1e-3), resume=True))
    refused("different config: heads", lambda: train(small_config(tokenized_bpe, run_bpe_n4, heads=2), resume=True))
    refused("not the data this run was trained on", lambda: train(small_config(tokenized_bytes, run_bpe_n4), resume=True))


def test_init_from_checks(run_bpe_n4, tokenized_bytes, tokenized_bpe, tmp_path):
    refused("another tokenizer", small_config(tokenized_bytes, tmp_path / "a", init_from=run_bpe_n4))
    refused("cannot also set dim", small_config(tokenized_bpe, tmp_path / "b", init_from=run_bpe_n4, model_overrides={"dim": 128}))
    assert not (tmp_path / "b").exists()  # a refused run leaves no folder behind
    (tmp_path / "c" / "checkpoints").mkdir(parents=True)
    refused("no checkpoint yet", small_config(tokenized_bpe, tmp_path / "d", init_from=tmp_path / "c"))


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tokenized_bpe, tmp_path):
    out = tmp_path / "nan"
    trainer = Trainer(small_config(tokenized_bpe, out, steps=10, save_every=2))

    class Poison(NullObserver):
        def on_step(self, record):
            if record["step"] == 3:
                with torch.no_grad():
                    trainer.model.norm.weight.fill_(float("nan"))

    trainer.observer = Poison()
    with pytest.raises(NonFiniteLoss, match="non-finite at step 4.*step-000002, is kept"):
        trainer.run()
    assert (out / "checkpoints" / "latest").read_text().strip() == "step-000002"
    assert not (out / "checkpoints" / "step-000004").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "step 4" in manifest["failure"]
    assert MetricsLog(out).read()[-1]["loss"] == "nan"


def test_an_explicit_gpu_under_torchrun_is_refused():
    from mtp_cli.model.device import resolve_device as pick_device

    refused("would put all 2 processes on GPU 0", lambda: pick_device("cuda:0", local_rank=1, world_size=2))
    assert pick_device("cpu", local_rank=1, world_size=2) == torch.device("cpu")
    if not torch.cuda.is_available():  # one process, or no torchrun: cuda:N is taken as asked (here: no CUDA)
        refused("sees no CUDA device", lambda: pick_device("cuda:0", local_rank=0, world_size=1))
        refused("sees no CUDA device", lambda: pick_device("cuda:1"))
