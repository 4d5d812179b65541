"""Hugging Face models in and out: logits, greedy decoding, export, round trip, draft-head training."""

from __future__ import annotations

import json

import pytest
import torch

from mtp_cli.model.checkpoint import read_weights
from mtp_cli.generate.decode import decode_plain
from mtp_cli.generate.sampling import SamplingParams
from mtp_cli.generate.speculative import decode_speculative
from mtp_cli.generate.stopping import StopChecker
from mtp_cli.interop import export_model, import_model
from mtp_cli.model import load_checkpoint
from mtp_cli.tokenize import TokenizeConfig, tokenize_corpus
from hf_models import ARCHITECTURES, Memo
from mtp_cli.train import train
from train_helpers_interop import draft_config

ARCHS = pytest.mark.parametrize("arch", sorted(ARCHITECTURES))

PROMPTS = ["def add(a, b):\n", "import os\nclass Path", "for i in range(10):\n    ", "x = [1, 2, 3]\nprint("]
GREEDY = SamplingParams(temperature=0.0, top_p=1.0, top_k=0)


def encoded(ckpt, prompts=PROMPTS) -> list[list[int]]:
    """What mtp generate feeds the model: the start token (BOS, else EOS), then the prompt."""
    from mtp_cli.generate.run import encode_prompts, load_model
    from mtp_cli.generate.prompts import Prompt

    loaded = load_model(ckpt, torch.device("cpu"))
    return encode_prompts(loaded, [Prompt(i, p) for i, p in enumerate(prompts)], 256)


@ARCHS
def test_logits_equal_transformers(arch, hf_models):
    m = hf_models(arch)
    name, reference, ckpt = m.name, m.reference, m.checkpoint
    model, config, _ = load_checkpoint(ckpt)
    tokens = torch.randint(0, 258, (2, min(config.max_seq_len, 90)), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference(tokens).logits
        ours = model(tokens).logits[:, :, 0]
    assert ours.shape == expected.shape
    assert (ours - expected).abs().max().item() < 1e-4, name


@ARCHS
def test_prompts_start_as_the_tokenizer_starts_them(arch, hf_models):
    from transformers import AutoTokenizer

    folder, ckpt = hf_models(arch).folder, hf_models(arch).checkpoint
    theirs = AutoTokenizer.from_pretrained(folder)
    ours = encoded(ckpt)
    for prompt, ids in zip(PROMPTS, ours):
        expected = theirs(prompt).input_ids
        if theirs.bos_token is None:  # no BOS: mtp starts a text after EOS, as its rows are packed
            expected = [theirs.eos_token_id, *expected]
        assert ids == expected


@ARCHS
def test_greedy_equals_transformers_generate(arch, hf_models):
    reference, ckpt = hf_models(arch).reference, hf_models(arch).checkpoint
    model, _, _ = load_checkpoint(ckpt)
    prompts = encoded(ckpt)
    new = 24
    ours = decode_plain(model, prompts, StopChecker([b""] * 300, (), 256, [new] * len(prompts)), GREEDY)
    for ids, result in zip(prompts, ours):
        with torch.no_grad():
            out = reference.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long), max_new_tokens=new, do_sample=False, eos_token_id=256, pad_token_id=257)
        assert result.tokens == out[0, len(ids):].tolist()


@ARCHS
def test_export_loads_in_transformers_with_equal_logits(arch, hf_models, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    m = hf_models(arch)
    reference, folder, ckpt = m.reference, m.folder, m.checkpoint
    export_model(ckpt, tmp_path / "hf")
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    tokens = torch.randint(0, 258, (2, 48), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(loaded(tokens).logits, reference(tokens).logits, atol=1e-5, rtol=0)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "hf")
    original = AutoTokenizer.from_pretrained(folder)
    assert tokenizer("def f():").input_ids == original("def f():").input_ids
    assert tokenizer.eos_token == "<|endoftext|>" and tokenizer.pad_token == "<|pad|>"
    assert tokenizer.bos_token == (original.bos_token or "<|endoftext|>")


def tensors_of(ckpt):
    return read_weights(ckpt)


def assert_same_checkpoint(a, b):
    first, second = tensors_of(a), tensors_of(b)
    assert first.keys() == second.keys()
    for name in first:
        assert first[name].dtype == second[name].dtype and torch.equal(first[name], second[name]), name
    assert json.loads((a / "mtp_config.json").read_text())["model"] == json.loads((b / "mtp_config.json").read_text())["model"]
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()


@pytest.fixture(scope="session")
def drafted(hf_models, stdlib_json_dir, tmp_path_factory):
    """(imported, trained) per architecture: the imported model with 3 extra heads trained on the
    frozen next-token model (Medusa-1 style)."""
    def make(arch: str):
        ckpt = hf_models(arch).checkpoint
        root = tmp_path_factory.mktemp(f"drafted-{arch}")
        tokenize_corpus(TokenizeConfig(out=root / "data", sources=[stdlib_json_dir], tokenizer=str(ckpt / "tokenizer.json"), seq_len=64, val_fraction=0.1, workers=1))
        train(draft_config(root / "data", root / "run", ckpt))
        return ckpt, root / "run" / "checkpoints" / (root / "run" / "checkpoints" / "latest").read_text().strip()

    return Memo(make)


@ARCHS
def test_frozen_trunk_draft_heads_keep_the_model_and_decode_losslessly(arch, drafted):
    imported, trained = drafted(arch)
    before, after = tensors_of(imported), tensors_of(trained)
    extra = [n for n in after if n.startswith("extra_heads.")]
    assert len({n.split(".")[1] for n in extra}) == 3
    for name, tensor in before.items():
        assert torch.equal(after[name], tensor), f"{name} changed under --freeze-trunk"
    model, config, _ = load_checkpoint(trained)
    assert config.n_future_tokens == 4
    prompts = encoded(trained)
    limits = [40] * len(prompts)
    greedy = decode_plain(model, prompts, StopChecker([b""] * 300, (), 256, limits), GREEDY)
    speculative = decode_speculative(model, prompts, StopChecker([b""] * 300, (), 256, limits), GREEDY, 3)
    assert [r.tokens for r in speculative] == [r.tokens for r in greedy]


@ARCHS
def test_export_then_import_is_bit_identical_heads_included(arch, drafted, tmp_path):
    _, trained = drafted(arch)
    export_model(trained, tmp_path / "hf")
    assert (tmp_path / "hf" / "mtp_heads.safetensors").is_file()
    import_model(tmp_path / "hf", tmp_path / "back")
    assert_same_checkpoint(trained, tmp_path / "back")


@ARCHS
def test_import_of_an_n1_export_is_bit_identical(arch, hf_models, tmp_path):
    ckpt = hf_models(arch).checkpoint
    export_model(ckpt, tmp_path / "hf")
    assert not (tmp_path / "hf" / "mtp_heads.json").exists()
    import_model(tmp_path / "hf", tmp_path / "back")
    assert_same_checkpoint(ckpt, tmp_path / "back")


@ARCHS
def test_packed_rows_start_every_document_with_the_models_bos(arch, hf_models, stdlib_json_dir, tmp_path):
    import numpy as np

    from mtp_cli.tokenize.reader import TokenizedData

    name, ckpt = arch, hf_models(arch).checkpoint
    tokenize_corpus(TokenizeConfig(out=tmp_path / "data", sources=[stdlib_json_dir], tokenizer=str(ckpt / "tokenizer.json"), seq_len=64, val_fraction=0.0, workers=1))
    data = TokenizedData.open(tmp_path / "data")
    train_split = data.split("train")
    stream = np.concatenate([train_split.row(i) for i in range(len(train_split))])
    stream = stream[: len(stream) - 64 + data.manifest["splits"]["train"]["last_row_tokens"]]  # drop the padding
    bos = data.manifest["tokenizer"]["bos_id"]
    ends = np.flatnonzero(stream == 256)  # EOS ends every document
    assert len(ends) == data.manifest["splits"]["train"]["documents"]
    if name.startswith(("llama", "mistral")):  # their tokenizers put <s> before every text
        assert bos == 258 and stream[0] == bos and (stream[ends[:-1] + 1] == bos).all()
    else:
        assert bos is None and not (stream == 258).any()
