"""When a completion ends: at EOS, at the token limit, or once a stop sequence appears in its text.

Checking the text after every token must be cheap, so each token's bytes come from a table built
once (exact for byte-level tokenizers, which every mtp tokenizer is) and only the tail of each row's
bytes is searched. The completion itself is cut from the full decoded text (`cut_at_stop`).
"""

from __future__ import annotations

import json

from tokenizers import Tokenizer

from mtp_cli.tokenize.vocab import byte_level_alphabet


SPACE_MARK = "\u2581"  # SentencePiece's "▁", which stands for a space in its pieces


def _sentencepiece_bytes(piece: str) -> bytes:
    """A SentencePiece-style piece's bytes: "<0x0A>" is byte fallback for one byte, "▁" a space."""
    if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
        return bytes([int(piece[3:5], 16)])
    return piece.replace(SPACE_MARK, " ").encode("utf-8")


def token_bytes(tokenizer: Tokenizer, model_vocab: int = 0) -> list[bytes]:
    """The bytes each token id decodes to (special tokens, and ids of a model's padded embedding
    rows beyond the tokenizer's vocabulary: none)."""
    vocab_size = max(tokenizer.get_vocab_size(with_added_tokens=True), model_vocab)
    special = {t.content for t in tokenizer.get_added_tokens_decoder().values() if t.special}
    decoder = json.loads(tokenizer.to_str()).get("decoder") or {}
    table = {char: byte for byte, char in enumerate(byte_level_alphabet())} if decoder.get("type") == "ByteLevel" else None
    spaces_marked = SPACE_MARK in json.dumps(decoder, ensure_ascii=False)
    out = []
    for i in range(vocab_size):
        piece = tokenizer.id_to_token(i)
        if piece is None or piece in special:
            out.append(b"")
        elif table is not None and all(c in table for c in piece):
            out.append(bytes(table[c] for c in piece))
        elif spaces_marked:  # SentencePiece-style (Llama 1/2, Mistral): decoding one piece drops its space
            out.append(_sentencepiece_bytes(piece))
        else:  # other tokenizers: close enough to stop early; the final cut uses the full decode
            out.append(tokenizer.decode([i]).encode("utf-8"))
    return out


def cut_at_stop(text: str, stops: tuple[str, ...]) -> str:
    """Text before the first occurrence of any stop sequence."""
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))
    return text[:cut]


class StopChecker:
    """Per-row end detection; `feed` tells how many of a row's new tokens belong to the completion."""

    def __init__(self, table: list[bytes], stops: tuple[str, ...], eos_id: int | None, limits: list[int]):
        # eos_id None: EOS is a token like any other (fixed-length decoding, for timing)
        self.table, self.eos_id, self.limits = table, eos_id, limits
        self.stops = [s.encode("utf-8") for s in stops if s]
        self.window = max((len(s) for s in self.stops), default=0)
        self.tails = [b""] * len(limits)
        self.counts = [0] * len(limits)

    def feed(self, row: int, tokens: list[int]) -> int | None:
        """Take `tokens` for `row`; None while it goes on, else how many of them to keep (the row ended)."""
        for taken, token in enumerate(tokens, start=1):
            self.counts[row] += 1
            if token == self.eos_id or self.counts[row] >= self.limits[row]:
                return taken
            if self.stops:
                tail = self.tails[row] + self.table[token]
                if any(s in tail for s in self.stops):
                    return taken
                self.tails[row] = tail[-self.window :]
        return None
