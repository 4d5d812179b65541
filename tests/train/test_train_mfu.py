"""Model FLOPs utilization: FLOPs per token count every head, peaks come from a table or --peak-tflops."""

from __future__ import annotations

import json

import pytest
import torch

from mtp_cli.model import ModelConfig, MtpTransformer, build_config, train_flops_per_token
from mtp_cli.train import train
from mtp_cli.train.metrics import MetricsLog
from mtp_cli.train.mfu import device_peak_tflops, mfu, peak_tflops_for

from train_helpers import small_config


def test_peaks_of_known_gpus():
    assert peak_tflops_for("NVIDIA H100 80GB HBM3") == 989.5
    assert peak_tflops_for("NVIDIA H100 PCIe") == 756.0
    assert peak_tflops_for("NVIDIA H200") == 989.5
    assert peak_tflops_for("NVIDIA A100-SXM4-80GB") == 312.0
    assert peak_tflops_for("NVIDIA L40S") == 362.0 and peak_tflops_for("NVIDIA L4") == 121.0
    assert peak_tflops_for("Some Future GPU") is None
    assert device_peak_tflops(torch.device("cpu")) is None
    assert device_peak_tflops(torch.device("cpu"), 2.5) == 2.5


def test_mfu_is_model_flops_over_peak():
    assert mfu(6e9, 1e5, 989.5) == pytest.approx(6e14 / 989.5e12)
    assert mfu(6e9, 1e5, 989.5, devices=4) == pytest.approx(6e14 / (4 * 989.5e12))
    assert mfu(6e9, 1e5, None) is None


def test_flops_count_each_head_and_its_pass_through_the_unembedding():
    dim, vocab = 768, 32768
    one, four = (build_config("base", {"n_future_tokens": n, "vocab_size": vocab}) for n in (1, 4))
    # parameter matched: the same number of blocks, so n=4 adds three unembeddings, forward and backward
    assert train_flops_per_token(four, 2048) - train_flops_per_token(one, 2048) == pytest.approx(3 * 3 * 2 * dim * vocab)
    on_top = build_config("base", {"n_future_tokens": 4, "vocab_size": vocab, "extra_heads_on_top": True})
    assert train_flops_per_token(on_top, 2048) > train_flops_per_token(four, 2048)


def flops_per_token_from_the_modules(model: MtpTransformer, seq_len: int) -> float:
    """Training FLOPs per token counted from the built model's own matrices, not from the config:
    every block's weight matrices once (the trunk, head 1 and each extra head), the shared
    unembedding once per head, and causal attention over half the context on average in each block
    (scores and weighted sum); backward costs twice the forward."""
    blocks = [*model.trunk_blocks, *(model.head_module(i) for i in range(model.n_future_tokens))]
    weights = sum(p.numel() for block in blocks for p in block.parameters() if p.dim() == 2)
    dim, vocab = model.output.weight.shape[1], model.output.weight.shape[0]
    attention = len(blocks) * 2 * (2 * (seq_len / 2) * dim)
    return 3 * (2 * weights + model.n_future_tokens * 2 * dim * vocab + attention)


def test_train_records_mfu_with_a_given_peak(tokenized_bpe, tmp_path):
    out = tmp_path / "run"
    train(small_config(tokenized_bpe, out, steps=2, peak_tflops=0.5, save_every=100))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["peak_tflops_per_device"] == 0.5 and manifest["world_size"] == 1
    model = MtpTransformer(ModelConfig.from_dict(manifest["model"]))
    seq_len = manifest["plan"]["seq_len"]
    flops_per_token = flops_per_token_from_the_modules(model, seq_len)
    assert manifest["train_flops_per_token"] == pytest.approx(flops_per_token)
    tokens_per_step = manifest["plan"]["tokens_per_step"]
    for record in (r for r in MetricsLog(out).read() if r["event"] == "train"):
        assert record["tokens_per_second"] == pytest.approx(tokens_per_step / record["step_seconds"])
        assert record["mfu"] == pytest.approx(flops_per_token * tokens_per_step / record["step_seconds"] / 0.5e12)
    assert 0 < manifest["last_train"]["mfu"] < 1
