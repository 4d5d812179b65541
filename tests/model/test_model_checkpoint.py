"""Checkpoint files round-trip without the trainer."""

from __future__ import annotations

import pytest
import torch

from mtp_cli.artifacts import MtpError, build_manifest, sha256_bytes, write_manifest
from mtp_cli.model import MtpTransformer, build_config, load_checkpoint, write_model_files

TOKENIZER_JSON = '{"version": "1.0", "model": {"type": "BPE"}}'


def save(folder, model):
    folder.mkdir(parents=True)
    identity = {"sha256": sha256_bytes(TOKENIZER_JSON.encode()), "vocab_size": model.config.vocab_size}
    write_model_files(folder, model, TOKENIZER_JSON, identity, step=3)
    write_manifest(folder, build_manifest("checkpoint", {}, []))


@pytest.mark.parametrize("tie", [False, True])
def test_round_trip(tmp_path, tie):
    torch.manual_seed(0)
    model = MtpTransformer(build_config("tiny", {"vocab_size": 50, "dim": 32, "n_heads": 2, "tie_embeddings": tie}))
    save(tmp_path / "ckpt", model)
    loaded, config, tokenizer_json = load_checkpoint(tmp_path / "ckpt")
    assert config == model.config and tokenizer_json == TOKENIZER_JSON and not loaded.training
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    if tie:
        assert loaded.output.weight is loaded.tok_embeddings.weight


def test_latest_pointer_and_refusals(tmp_path):
    model = MtpTransformer(build_config("tiny", {"vocab_size": 50, "dim": 32, "n_heads": 2}))
    save(tmp_path / "run" / "checkpoints" / "step-000003", model)
    (tmp_path / "run" / "checkpoints" / "latest").write_text("step-000003\n")
    assert load_checkpoint(tmp_path / "run")[1] == model.config
    half = tmp_path / "half"
    half.mkdir()
    (half / "model.safetensors").write_bytes(b"x")
    with pytest.raises(MtpError, match="half-written"):
        load_checkpoint(half)
    (tmp_path / "run" / "checkpoints" / "step-000003" / "tokenizer.json").write_text("{}")
    with pytest.raises(MtpError, match="does not match"):
        load_checkpoint(tmp_path / "run")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_one_non_finite_value_anywhere_is_found(dtype, value):
    from mtp_cli.model.checkpoint import first_non_finite, is_finite

    for where in (0, 517, 999):
        tensor = torch.randn(1000).to(dtype)
        assert is_finite(tensor)
        tensor[where] = value
        assert not is_finite(tensor)
        assert first_non_finite({"fine": torch.ones(3, dtype=dtype), "bad": tensor}) == "bad"
    assert is_finite(torch.zeros(0, dtype=dtype)) and is_finite(torch.arange(5))
