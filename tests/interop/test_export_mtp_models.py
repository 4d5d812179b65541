"""Models mtp trained itself, out to Hugging Face and back: linear and causal heads, a window head, tied
embeddings, mtp's tokenizer."""

from __future__ import annotations

import json

import pytest
import torch

from mtp_cli.model.checkpoint import read_weights
from mtp_cli.artifacts import build_manifest, write_manifest
from mtp_cli.cli import main
from mtp_cli.interop import export_model, import_model
from mtp_cli.model import ModelConfig, MtpTransformer, write_model_files
from mtp_cli.tokenize.vocab import bytes_tokenizer, describe, tokenizer_summary


def write_checkpoint(folder, config: ModelConfig) -> MtpTransformer:
    torch.manual_seed(0)
    model = MtpTransformer(config)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.05)  # linear heads start as the identity: move them
    folder.mkdir(parents=True)
    spec = describe(bytes_tokenizer(), "bytes")
    write_model_files(folder, model, spec.json, tokenizer_summary(spec), step=10)
    write_manifest(folder, build_manifest("checkpoint", {}, [], step=10))
    return model.eval()


@pytest.mark.parametrize(
    "shape",
    [dict(head_type="linear"), dict(head_type="linear", tie_embeddings=True), dict(head_type="causal", n_layers=5, window_size=4)],
)
def test_mtp_models_round_trip_and_transformers_runs_head_one(tmp_path, shape):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = ModelConfig(**{"vocab_size": 258, "dim": 64, "n_layers": 4, "n_heads": 4, "n_future_tokens": 3, "max_seq_len": 128, **shape})
    model = write_checkpoint(tmp_path / "ckpt", config)
    export_model(tmp_path / "ckpt", tmp_path / "hf")
    heads = json.loads((tmp_path / "hf" / "mtp_heads.json").read_text())
    assert heads["n_future_tokens"] == 3 and heads["head_type"] == config.head_type
    assert (heads["window_head"] is not None) == bool(config.window_size)
    tokens = torch.randint(0, 256, (2, 40), generator=torch.Generator().manual_seed(0))
    hf = AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    with torch.no_grad():
        assert (hf(tokens).logits - model(tokens).logits[:, :, 0]).abs().max().item() < 1e-4
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert tokenizer.bos_token == tokenizer.eos_token == "<|endoftext|>"  # mtp's texts start after EOS
    import_model(tmp_path / "hf", tmp_path / "back")

    first, second = read_weights(tmp_path / "ckpt"), read_weights(tmp_path / "back")
    assert first.keys() == second.keys() and all(torch.equal(first[n], second[n]) for n in first)


@pytest.mark.parametrize("shape, named", [(dict(n_layers=3, extra_heads_on_top=True), "--heads-on-top"), (dict(n_layers=4, head_type="anticausal"), "anticausal")])
def test_head_one_on_top_of_other_heads_cannot_be_exported(tmp_path, capsys, shape, named):
    config = ModelConfig(vocab_size=258, dim=64, n_heads=4, n_future_tokens=2, max_seq_len=64, **shape)
    write_checkpoint(tmp_path / "ckpt", config)
    assert main(["export", str(tmp_path / "ckpt"), "--out", str(tmp_path / "hf")]) == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "hf").exists()


def test_a_heads_file_that_does_not_fit_the_model_is_refused(tmp_path, capsys):
    config = ModelConfig(vocab_size=258, dim=64, n_layers=4, n_heads=4, n_future_tokens=2, max_seq_len=64)
    write_checkpoint(tmp_path / "ckpt", config)
    export_model(tmp_path / "ckpt", tmp_path / "hf")
    document = json.loads((tmp_path / "hf" / "mtp_heads.json").read_text())
    document["model"]["norm_eps"] = 1e-3
    (tmp_path / "hf" / "mtp_heads.json").write_text(json.dumps(document))
    assert main(["import", str(tmp_path / "hf"), "--out", str(tmp_path / "back")]) == 2
    assert "differs in norm_eps" in capsys.readouterr().err
