"""The method's release layout: params.json with n_future_tokens, consolidated.*.pth, tokenizer.model."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

from mtp_cli.generate.decode import decode_plain
from mtp_cli.generate.run import encode_prompts, load_model
from mtp_cli.generate.prompts import Prompt
from mtp_cli.generate.sampling import SamplingParams
from mtp_cli.generate.speculative import decode_speculative
from mtp_cli.generate.stopping import StopChecker, token_bytes
from mtp_cli.interop import import_model
from mtp_cli.interop.release import parallel_dim
from mtp_cli.model import ModelConfig, MtpTransformer
from mtp_cli.tokenize.sources import stdlib_root

spm = pytest.importorskip("sentencepiece")
PARAMS = {"dim": 64, "n_layers": 6, "n_heads": 4, "multiple_of": 32, "norm_eps": 1e-5, "vocab_size": -1, "n_future_tokens": 4}
TEXTS = ["def f(x):\n    return x ** 2  # é ü 漢字\n", "  two  spaces and\ttabs", "class A:\n    pass\n\n\nprint(A())"]


def train_sentencepiece(path: Path) -> None:
    """A Llama-style SentencePiece BPE (byte fallback, identity normalization, <unk> <s> </s> = 0 1 2)."""
    lines = (stdlib_root() / "textwrap.py").read_text().splitlines() + (stdlib_root() / "json" / "decoder.py").read_text().splitlines()
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, vocab_size=400, model_type="bpe", byte_fallback=True,
        normalization_rule_name="identity", add_dummy_prefix=True, remove_extra_whitespaces=False,
        allow_whitespace_only_pieces=True, split_digits=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2,
    )
    path.write_bytes(model.getvalue())


def release_weights(vocab: int) -> dict[str, torch.Tensor]:
    config = ModelConfig(vocab_size=vocab, dim=64, n_layers=6, n_heads=4, multiple_of=32, n_future_tokens=4)
    torch.manual_seed(0)
    model = MtpTransformer(config)
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(std=0.08) if param.dim() > 1 else param.uniform_(0.5, 1.5)
    return {name: t.to(torch.bfloat16) for name, t in model.state_dict().items()}


def write_release(folder: Path, weights: dict[str, torch.Tensor], ranks: int = 1) -> None:
    """The release layout, with the weights split over `ranks` model-parallel files as Meta's code splits them."""
    folder.mkdir(parents=True)
    (folder / "params.json").write_text(json.dumps(PARAMS))
    for rank in range(ranks):
        shard = {}
        for name, tensor in weights.items():
            dim = parallel_dim(name)
            shard[name] = tensor.chunk(ranks, dim=dim)[rank].clone() if dim is not None else tensor
        torch.save(shard, folder / f"consolidated.{rank:02d}.pth")


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("release")
    train_sentencepiece(root / "tokenizer.model")  # one folder up, as in the published repository
    weights = release_weights(vocab=400)
    write_release(root / "7B_tiny_4", weights)
    import_model(root / "7B_tiny_4", root / "ckpt")
    return root, weights


def test_release_imports_with_its_extra_heads(release):
    root, weights = release
    manifest = json.loads((root / "ckpt" / "manifest.json").read_text())
    assert manifest["model"]["n_future_tokens"] == 4 and manifest["dtype"] == "bfloat16"
    assert {Path(f["path"]).name for f in manifest["inputs"][0]["files"]} == {"params.json", "consolidated.00.pth", "tokenizer.model"}
    from safetensors.torch import load_file

    imported = load_file(str(root / "ckpt" / "model.safetensors"))
    assert imported.keys() == weights.keys()
    assert all(torch.equal(imported[n], weights[n]) for n in weights)


def test_model_parallel_shards_are_joined(release, tmp_path):
    root, weights = release
    write_release(tmp_path / "mp2", weights, ranks=2)
    import_model(tmp_path / "mp2", tmp_path / "ckpt", tokenizer_model=root / "tokenizer.model")
    from safetensors.torch import load_file

    joined = load_file(str(tmp_path / "ckpt" / "model.safetensors"))
    assert all(torch.equal(joined[n], weights[n]) for n in weights)


def test_tokenizer_matches_sentencepiece_and_round_trips(release):
    root, _ = release
    loaded = load_model(root / "ckpt", torch.device("cpu"))
    processor = spm.SentencePieceProcessor(model_file=str(root / "tokenizer.model"))
    source = (stdlib_root() / "shutil.py").read_text()[:4000]
    for text in [*TEXTS, source]:
        ids = loaded.tokenizer.encode(text, add_special_tokens=False).ids
        assert ids == processor.encode(text)
        assert loaded.tokenizer.decode(ids) == text
    assert loaded.start_id == processor.bos_id() == 1 and loaded.eos_id == processor.eos_id() == 2
    table = token_bytes(loaded.tokenizer)
    assert table[processor.piece_to_id("<0x0A>")] == b"\n"


def test_speculative_decoding_with_the_release_heads_equals_greedy(release):
    root, _ = release
    loaded = load_model(root / "ckpt", torch.device("cpu"))
    prompts = encode_prompts(loaded, [Prompt(i, t) for i, t in enumerate(TEXTS)], 4096)
    greedy_params = SamplingParams(temperature=0.0, top_p=1.0, top_k=0)
    limits = [48] * len(prompts)
    checker = lambda: StopChecker([b""] * 400, (), -1, limits)  # noqa: E731 - no EOS: full-length rows
    greedy = decode_plain(loaded.model, prompts, checker(), greedy_params)
    speculative = decode_speculative(loaded.model, prompts, checker(), greedy_params, 3)
    assert [r.tokens for r in speculative] == [r.tokens for r in greedy]
    assert all(len(r.tokens) == 48 for r in greedy)
