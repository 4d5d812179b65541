"""A tokenized folder opens in the libraries its users know: `datasets.load_from_disk(DIR)` as a
DatasetDict, and `transformers.AutoTokenizer` with its special tokens."""

from __future__ import annotations

import json

import pyarrow as pa


def test_load_from_disk_of_the_folder_is_a_dataset_dict(tokenized_bpe):
    import datasets

    loaded = datasets.load_from_disk(str(tokenized_bpe))
    manifest = json.loads((tokenized_bpe / "manifest.json").read_text())
    assert isinstance(loaded, datasets.DatasetDict) and list(loaded) == ["train", "validation"]
    for name, split in manifest["splits"].items():
        assert loaded[name].num_rows == split["rows"]
    with pa.ipc.open_stream(str(tokenized_bpe / "train" / manifest["splits"]["train"]["shards"][0]["file"])) as reader:
        first = reader.read_next_batch().column(0)[0].as_py()
    assert loaded["train"][0]["input_ids"] == first


def test_auto_tokenizer_knows_the_special_tokens(tokenized_bpe, tokenized_bytes):
    from transformers import AutoTokenizer

    for folder in (tokenized_bpe, tokenized_bytes):
        identity = json.loads((folder / "manifest.json").read_text())["tokenizer"]
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        assert tokenizer.eos_token == identity["eos_token"] and tokenizer.eos_token_id == identity["eos_id"]
        assert tokenizer.pad_token == identity["pad_token"] and tokenizer.pad_token_id == identity["pad_id"]
        assert tokenizer.bos_token == identity["eos_token"]  # no BOS: texts start after EOS
