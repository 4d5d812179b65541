"""A checkpoint folder opens in `transformers` for what it is: `AutoTokenizer` finds its special
tokens, and no `config.json` is there for `AutoConfig` to misread (mtp's own is `mtp_config.json`)."""

from __future__ import annotations

import json
import shutil

from mtp_cli.model import load_checkpoint, resolve_checkpoint


def test_checkpoint_tokenizer_and_no_config_json(run_bpe_n4):
    from transformers import AutoTokenizer

    folder = resolve_checkpoint(run_bpe_n4)
    assert (folder / "mtp_config.json").is_file() and not (folder / "config.json").exists()
    identity = json.loads((folder / "mtp_config.json").read_text())["tokenizer"]
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    assert (tokenizer.eos_token_id, tokenizer.pad_token_id) == (identity["eos_id"], identity["pad_id"])
    assert tokenizer.model_max_length == json.loads((folder / "mtp_config.json").read_text())["model"]["max_seq_len"]


def test_a_checkpoint_written_before_the_rename_still_loads(run_bpe_n4, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(resolve_checkpoint(run_bpe_n4), old)
    (old / "mtp_config.json").rename(old / "config.json")
    (old / "tokenizer_config.json").unlink()
    manifest = json.loads((old / "manifest.json").read_text())  # as that checkpoint's manifest listed them
    manifest["files"] = [{**e, "path": "config.json"} if e["path"] == "mtp_config.json" else e
                         for e in manifest.get("files", []) if e["path"] != "tokenizer_config.json"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    model, config, _ = load_checkpoint(old)
    assert config == load_checkpoint(run_bpe_n4)[1] and model.n_future_tokens == 4
