"""An imported Hugging Face model keeps its own weight files: linked, not rewritten, and guarded."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil

import pytest
import torch

from hf_models import build_hf_model
from mtp_cli.artifacts import MtpError
from mtp_cli.interop import import_model
from mtp_cli.model import load_checkpoint
from mtp_cli.model import hf_weights
from mtp_cli.model.checkpoint import read_weights, weights_sha256


@pytest.fixture
def source(tmp_path):
    build_hf_model("llama-gqa-llama3-rope", tmp_path / "hf")
    return tmp_path / "hf"


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_checkpoint_holds_the_source_file_itself(source, tmp_path):
    manifest = import_model(source, tmp_path / "ckpt")
    weights = tmp_path / "ckpt" / "model.safetensors"
    assert os.path.samefile(weights, source / "model.safetensors")  # a hard link: no second copy on disk
    config = json.loads((tmp_path / "ckpt" / "mtp_config.json").read_text())
    assert config["weights"]["layout"] == "huggingface"
    assert manifest["files"] == [{"path": "model.safetensors", "bytes": weights.stat().st_size, "sha256": sha256(source / "model.safetensors")}]
    assert weights_sha256(tmp_path / "ckpt") == sha256(source / "model.safetensors")


def test_across_file_systems_the_file_is_copied(source, tmp_path, monkeypatch):
    def no_link(a, b):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    import_model(source, tmp_path / "linked")
    monkeypatch.setattr(hf_weights.os, "link", no_link)
    import_model(source, tmp_path / "copied")
    weights = tmp_path / "copied" / "model.safetensors"
    assert not os.path.samefile(weights, source / "model.safetensors")
    assert weights.read_bytes() == (source / "model.safetensors").read_bytes()
    linked, copied = read_weights(tmp_path / "linked"), read_weights(tmp_path / "copied")
    assert linked.keys() == copied.keys() and all(torch.equal(linked[n], copied[n]) for n in linked)


def test_a_source_rewritten_in_place_is_refused(source, tmp_path):
    import_model(source, tmp_path / "ckpt")
    path = source / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-8:] = bytes(8)  # the last weight's bytes, as a tool rewriting the file in place would
    with open(path, "r+b") as f:  # the same file (inode): what the checkpoint links to
        f.write(data)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    with pytest.raises(MtpError, match="model.safetensors was rewritten after the import") as refused:
        load_checkpoint(tmp_path / "ckpt")
    assert "mtp import" in refused.value.hint


def test_a_copied_checkpoint_folder_with_new_mtimes_still_loads(source, tmp_path):
    import_model(source, tmp_path / "ckpt")
    shutil.copytree(tmp_path / "ckpt", tmp_path / "moved", copy_function=shutil.copyfile)  # mtimes not kept
    os.utime(tmp_path / "moved" / "model.safetensors", ns=(1, 1))
    first, second = read_weights(tmp_path / "ckpt"), read_weights(tmp_path / "moved")
    assert all(torch.equal(first[n], second[n]) for n in first)


def test_a_replaced_linked_file_is_refused_and_the_source_kept(source, tmp_path):
    from safetensors.torch import load_file, save_file

    import_model(source, tmp_path / "ckpt")
    weights = tmp_path / "ckpt" / "model.safetensors"
    tensors = load_file(str(weights))
    tensors.pop("model.norm.weight")
    weights.unlink()  # break the link first: the source stays whole
    save_file(tensors, str(weights))
    with pytest.raises(MtpError, match="is not a complete mtp checkpoint: model.safetensors has"):
        read_weights(tmp_path / "ckpt")
    assert "model.norm.weight" in load_file(str(source / "model.safetensors"))


def test_a_sharded_source_is_linked_shard_by_shard_and_exports_whole(tmp_path):
    from transformers import AutoModelForCausalLM

    from mtp_cli.interop import export_model

    model = build_hf_model("qwen2-biases", tmp_path / "one")
    model.save_pretrained(tmp_path / "sharded", max_shard_size="100KB")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tmp_path / "one" / name, tmp_path / "sharded")
    shards = sorted((tmp_path / "sharded").glob("model-*.safetensors"))
    assert len(shards) > 1
    import_model(tmp_path / "sharded", tmp_path / "ckpt")
    for shard in shards:
        assert os.path.samefile(tmp_path / "ckpt" / shard.name, shard)
    manifest = export_model(tmp_path / "ckpt", tmp_path / "hf")
    assert manifest["inputs"][0]["sha256"] == weights_sha256(tmp_path / "ckpt")
    tokens = torch.randint(0, 200, (1, 12), generator=torch.Generator().manual_seed(0))
    exported = AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    with torch.no_grad():
        assert torch.equal(exported(tokens).logits, model.eval()(tokens).logits)
