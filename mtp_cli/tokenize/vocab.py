"""Tokenizers: raw bytes, a byte-level BPE trained on the corpus, the shipped code BPE, or a file.

Every kind is a `tokenizers` tokenizer.json, so later steps load any of them the same way. The
bytes tokenizer is built so that its ids 0-255 are the byte values themselves, which also lets
`mtp tokenize` encode bytes with numpy instead of the BPE machinery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from mtp_cli.artifacts import MtpError, sha256_bytes

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
SPECIAL_TOKENS = (EOS_TOKEN, PAD_TOKEN)
DEFAULT_VOCAB_SIZE = 32768
MIN_BPE_VOCAB = 256 + len(SPECIAL_TOKENS)
# Names other tokenizers give their end-of-text and padding tokens, tried in order.
EOS_CANDIDATES = (EOS_TOKEN, "</s>", "<eos>", "<|end_of_text|>", "<|endoftext|>", "[SEP]")
PAD_CANDIDATES = (PAD_TOKEN, "<pad>", "[PAD]", "<|padding|>")



@dataclass(frozen=True)
class TokenizerSpec:
    """A tokenizer as the rest of the pipeline needs it."""

    kind: str  # bytes | bpe | shipped | file
    json: str  # the tokenizer.json text
    vocab_size: int
    eos_id: int
    pad_id: int | None
    eos_token: str
    pad_token: str | None
    bos_id: int | None = None  # the token the tokenizer puts before a text (Llama's <s>); None: EOS starts documents
    bos_token: str | None = None

    @property
    def sha256(self) -> str:
        return sha256_bytes(self.json.encode("utf-8"))

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint16) if self.vocab_size <= 1 << 16 else np.dtype(np.uint32)

    def load(self) -> Tokenizer:
        tokenizer = Tokenizer.from_str(self.json)
        tokenizer.encode_special_tokens = True  # "<|endoftext|>" inside a document is text, not EOS
        return tokenizer


def byte_level_alphabet() -> list[str]:
    """The printable stand-in character ByteLevel uses for each byte 0..255, in byte order."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def _with_specials(tokenizer: Tokenizer) -> Tokenizer:
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    return tokenizer


def bytes_tokenizer() -> Tokenizer:
    vocab = {char: byte for byte, char in enumerate(byte_level_alphabet())}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    return _with_specials(tokenizer)  # EOS = 256, PAD = 257


def train_bpe(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """A byte-level BPE (GPT-2 style pre-tokenization, no normalization) trained on `texts`."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),  # ids 0 and 1
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def _find_token(tokenizer: Tokenizer, candidates: Iterable[str]) -> tuple[str, int] | None:
    for token in candidates:
        token_id = tokenizer.token_to_id(token)
        if token_id is not None:
            return token, token_id
    return None


def begin_token(tokenizer: Tokenizer) -> tuple[str, int] | None:
    """The special token the tokenizer's post-processor puts before every text, if any (BOS)."""
    plain = tokenizer.encode("x", add_special_tokens=False).ids
    full = tokenizer.encode("x", add_special_tokens=True).ids
    if len(full) > len(plain) and full[len(full) - len(plain) :] == plain:
        bos_id = full[0]
        return tokenizer.id_to_token(bos_id), bos_id
    return None


def describe(tokenizer: Tokenizer, kind: str, eos_token: str | None = None, text: str | None = None) -> TokenizerSpec:
    """The spec of `tokenizer`; `text` is its file's exact content when it was read from one."""
    eos = _find_token(tokenizer, [eos_token] if eos_token else EOS_CANDIDATES)
    if eos is None:
        wanted = eos_token or " / ".join(EOS_CANDIDATES[:4])
        raise MtpError(f"the tokenizer has no end-of-text token ({wanted})", "pass --eos-token TOKEN")
    pad = _find_token(tokenizer, PAD_CANDIDATES)
    bos = begin_token(tokenizer)
    return TokenizerSpec(
        kind=kind,
        json=text if text is not None else tokenizer.to_str(),
        vocab_size=tokenizer.get_vocab_size(with_added_tokens=True),
        eos_id=eos[1],
        pad_id=pad[1] if pad else None,
        eos_token=eos[0],
        pad_token=pad[0] if pad else None,
        bos_id=bos[1] if bos else None,
        bos_token=bos[0] if bos else None,
    )


def load_tokenizer_file(path: str | Path, eos_token: str | None = None) -> TokenizerSpec:
    path = Path(path)
    if not path.is_file():
        raise MtpError(f"tokenizer file {path} does not exist", "use bpe, bytes, or a tokenizer.json path")
    try:
        text = path.read_text(encoding="utf-8")
        tokenizer = Tokenizer.from_str(text)
    except Exception as e:  # the Rust side raises plain Exception with a parse message
        first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise MtpError(f"{path} is not a valid tokenizer.json: {first_line}", "pass a file saved by `tokenizers`") from None
    return describe(tokenizer, "file", eos_token, text)


def shipped_tokenizer_path() -> Path:
    from importlib.resources import files

    return Path(str(files("mtp_cli.tokenizer_assets") / "code-bpe-32k" / "tokenizer.json"))


def load_spec_from_json(text: str, kind: str, eos_token: str | None = None) -> TokenizerSpec:
    return describe(Tokenizer.from_str(text), kind, eos_token, text)


class DocEncoder:
    """Encodes decoded documents to token id arrays; bytes skip the tokenizer altogether."""

    def __init__(self, spec: TokenizerSpec):
        self.dtype = spec.dtype
        self.raw_bytes = spec.kind == "bytes"
        self.tokenizer = None if self.raw_bytes else spec.load()

    def encode(self, texts: list[str]) -> list[np.ndarray]:
        if self.raw_bytes:
            return [np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(self.dtype) for text in texts]
        encodings = self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        return [np.array(e.ids, dtype=self.dtype) for e in encodings]


def decode_documents(spec: TokenizerSpec, stream: np.ndarray) -> Iterator[str]:
    """Split a token stream at EOS and decode each document (used by tests and `mtp info`-style checks)."""
    tokenizer = spec.load()
    boundaries = np.flatnonzero(stream == spec.eos_id)
    start = 0
    for end in boundaries:
        yield tokenizer.decode(stream[start:end].tolist(), skip_special_tokens=False)
        start = end + 1


def tokenizer_summary(spec: TokenizerSpec) -> dict:
    return {
        "kind": spec.kind,
        "vocab_size": spec.vocab_size,
        "eos_id": spec.eos_id,
        "eos_token": spec.eos_token,
        "pad_id": spec.pad_id,
        "pad_token": spec.pad_token,
        "bos_id": spec.bos_id,
        "bos_token": spec.bos_token,
        "sha256": spec.sha256,
        "dtype": spec.dtype.name,
        "model": json.loads(spec.json).get("model", {}).get("type"),
    }
