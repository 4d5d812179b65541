"""Activation checkpointing and torch.compile change no result; --compile and --fsdp refuse early."""

from __future__ import annotations

import contextlib
import copy
import os

import pytest
import torch

from mtp_cli.artifacts import MtpError
from mtp_cli.model import MtpTransformer, build_config
from mtp_cli.train import train
from mtp_cli.train.data import IGNORE
from mtp_cli.train.metrics import MetricsLog
from mtp_cli.train.objective import HeadSums, backward_efficient
from mtp_cli.train.parallelize import apply_activation_checkpointing, check_compiler

from train_helpers import small_config

V, T, N = 61, 16, 4


def gradients(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    inputs, targets = torch.randint(0, V, (3, T)), torch.randint(0, V, (N, 3, T))
    targets[:, -1, -4:] = IGNORE
    scales = [1.0 / int(c) for c in (targets != IGNORE).sum(dim=(1, 2))]
    model.zero_grad(set_to_none=True)
    backward_efficient(model, inputs, targets, scales, HeadSums.zeros(N), contextlib.nullcontext())
    return {name.replace("._checkpoint_wrapped_module", ""): p.grad for name, p in model.named_parameters()}


def test_activation_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = MtpTransformer(build_config("tiny", {"vocab_size": V, "dim": 32, "n_heads": 2, "n_future_tokens": N}))
    checkpointed = copy.deepcopy(plain)
    apply_activation_checkpointing(checkpointed)
    assert "layers.0._checkpoint_wrapped_module.attention.wq.weight" in dict(checkpointed.named_parameters())
    assert checkpointed.state_dict().keys() == plain.state_dict().keys()  # checkpoints are unchanged
    expected, got = gradients(plain), gradients(checkpointed)
    assert got.keys() == expected.keys()
    for name, grad in expected.items():
        torch.testing.assert_close(got[name], grad, rtol=0, atol=1e-7, msg=name)


def test_compile_needs_a_compiler(monkeypatch, tokenized_bpe, tmp_path):
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr("mtp_cli.train.parallelize.shutil.which", lambda name: None)
    with pytest.raises(MtpError, match="needs a C\\+\\+ compiler"):
        check_compiler(torch.device("cpu"))
    with pytest.raises(MtpError, match="needs a C\\+\\+ compiler"):
        train(small_config(tokenized_bpe, tmp_path / "run", compile=True))
    assert not (tmp_path / "run").exists()


def test_fsdp_needs_a_process_group(tokenized_bpe, tmp_path):
    with pytest.raises(MtpError, match="not in one"):
        train(small_config(tokenized_bpe, tmp_path / "run", fsdp=True))
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(not os.environ.get("MTP_TEST_COMPILE"), reason="compiling on the CPU takes about a minute: set MTP_TEST_COMPILE=1")
def test_compiled_blocks_give_the_same_losses(tokenized_bpe, tmp_path):
    runs = {}
    for compiled in (False, True):
        out = tmp_path / f"compile-{compiled}"
        train(small_config(tokenized_bpe, out, steps=3, compile=compiled, activation_checkpointing=compiled, save_every=100))
        runs[compiled] = {r["step"]: r["head_loss"] for r in MetricsLog(out).read() if r["event"] == "train"}
    for step, losses in runs[False].items():
        assert runs[True][step] == pytest.approx(losses, rel=1e-4), step
