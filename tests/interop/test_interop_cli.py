"""`mtp import` / `mtp export` from the command line, and every refusal: one line, exit code 2."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from hf_models import build_hf_model
from mtp_cli.model.checkpoint import read_weights
from mtp_cli.cli import main


@pytest.fixture(scope="module")
def llama_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli") / "llama"
    build_hf_model("llama-gqa-llama3-rope", folder)
    return folder


def test_import_generate_export_from_the_command_line(llama_folder, tmp_path, capsys):
    assert main(["import", str(llama_folder), "--out", str(tmp_path / "ckpt")]) == 0
    out_text = capsys.readouterr().out
    assert "huggingface" in out_text and "parameters" in out_text
    out = tmp_path / "samples.jsonl"
    assert main(["generate", str(tmp_path / "ckpt"), "--prompt", "def f(", "--max-new-tokens", "8", "--out", str(out)]) == 0
    sidecar = json.loads((tmp_path / "samples.jsonl.manifest.json").read_text())
    assert sidecar["prompt_tokens"] == "BOS + prompt"
    assert main(["export", str(tmp_path / "ckpt"), "--out", str(tmp_path / "hf")]) == 0
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["model_type"] == "llama"
    assert main(["import", str(llama_folder), "--out", str(tmp_path / "ckpt")]) == 2  # exists: refused
    assert "--overwrite" in capsys.readouterr().err


def edited_config(folder, tmp_path, **changes):
    copy = tmp_path / "model"
    shutil.copytree(folder, copy)
    config = json.loads((copy / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    (copy / "config.json").write_text(json.dumps(config))
    return copy


REFUSALS = {
    "moe": (dict(model_type="mixtral"), "model_type 'mixtral' is not supported"),
    "activation": (dict(hidden_act="gelu"), "hidden_act 'gelu'"),
    "mlp bias": (dict(mlp_bias=True), "mlp_bias"),
    "rope type": (dict(rope_parameters={"rope_type": "yarn", "factor": 4.0, "rope_theta": 10000.0}, rope_scaling=None), "'yarn'"),
    "head_dim": (dict(head_dim=16), "head_dim 16"),
    "wrong shapes": (dict(intermediate_size=128), "its config implies"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_unsupported_models_are_refused_in_one_line(case, llama_folder, tmp_path, capsys):
    changes, message = REFUSALS[case]
    folder = edited_config(llama_folder, tmp_path, **changes)
    assert main(["import", str(folder), "--out", str(tmp_path / "ckpt")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) <= 2
    assert err.startswith("error:")  # no empty progress frame before it
    assert not (tmp_path / "ckpt").exists()


def test_missing_files_are_refused(llama_folder, tmp_path, capsys):
    folder = tmp_path / "model"
    shutil.copytree(llama_folder, folder)
    (folder / "tokenizer.json").unlink()
    assert main(["import", str(folder), "--out", str(tmp_path / "a")]) == 2
    assert "no tokenizer.json" in capsys.readouterr().err
    shutil.copy(llama_folder / "tokenizer.json", folder)
    (folder / "model.safetensors").unlink()
    assert main(["import", str(folder), "--out", str(tmp_path / "b")]) == 2
    assert "lacks model.safetensors" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "nowhere"), "--out", str(tmp_path / "c")]) == 2
    assert "downloads nothing" in capsys.readouterr().err
    assert main(["import", str(tmp_path), "--out", str(tmp_path / "d")]) == 2
    assert "neither a Hugging Face model" in capsys.readouterr().err
    assert main(["import", str(llama_folder), "--out", str(tmp_path / "e"), "--tokenizer", "x.model"]) == 2
    assert "--tokenizer is for release checkpoints" in capsys.readouterr().err


def test_a_sliding_window_caps_the_context(tmp_path):
    from mtp_cli.interop.hf_layout import config_from_hf

    base = {"model_type": "mistral", "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2, "intermediate_size": 96, "vocab_size": 300}
    assert config_from_hf({**base, "max_position_embeddings": 32768, "sliding_window": 4096}).max_seq_len == 4096
    assert config_from_hf({**base, "max_position_embeddings": 2048, "sliding_window": None}).max_seq_len == 2048
    qwen = {**base, "model_type": "qwen2", "max_position_embeddings": 32768, "sliding_window": 4096}
    assert config_from_hf({**qwen, "use_sliding_window": False}).max_seq_len == 32768
    assert config_from_hf({**qwen, "use_sliding_window": True}).max_seq_len == 4096


def test_a_model_folder_given_where_a_checkpoint_goes_is_pointed_at_mtp_import(llama_folder, tmp_path, capsys):
    out = tmp_path / "s.jsonl"
    assert main(["generate", str(llama_folder), "--prompt", "def f(", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "mtp import" in err and "half-written" not in err and "Traceback" not in err
    assert not out.exists()


def test_sharded_safetensors_with_their_index_import_like_one_file(tmp_path):

    from mtp_cli.interop import import_model

    model = build_hf_model("qwen2-biases", tmp_path / "one")
    model.save_pretrained(tmp_path / "sharded", max_shard_size="100KB")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tmp_path / "one" / name, tmp_path / "sharded")
    shards = sorted(p.name for p in (tmp_path / "sharded").glob("model-*.safetensors"))
    assert len(shards) > 1 and (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    import_model(tmp_path / "one", tmp_path / "a")
    manifest = import_model(tmp_path / "sharded", tmp_path / "b")
    assert set(shards) <= {p["path"].rsplit("/", 1)[1] for p in manifest["inputs"][0]["files"]}
    first, second = read_weights(tmp_path / "a"), read_weights(tmp_path / "b")
    assert first.keys() == second.keys() and all(torch.equal(first[n], second[n]) for n in first)
