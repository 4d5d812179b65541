"""When a completion ends: at EOS, at the token limit, or once a stop sequence appears in its text.

Checking the text after every token must be cheap, so each token's bytes come from a table built
once (exact for byte-level tokenizers, which every mtp tokenizer is) and only the tail of each row's
bytes is searched. The completion itself is cut from the full decoded text (`cut_at_stop`).
"""

from __future__ import annotations

import json

from tokenizers import Tokenizer


def _byte_level_table() -> dict[str, int]:
    """ByteLevel's printable stand-in character -> the byte it stands for."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            table[chr(byte)] = byte
        else:
            table[chr(256 + extra)] = byte
            extra += 1
    return table


def token_bytes(tokenizer: Tokenizer) -> list[bytes]:
    """The bytes each token id decodes to (special tokens: none)."""
    vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
    special = {t.content for t in tokenizer.get_added_tokens_decoder().values() if t.special}
    decoder = (json.loads(tokenizer.to_str()).get("decoder") or {}).get("type")
    table = _byte_level_table() if decoder == "ByteLevel" else None
    out = []
    for i in range(vocab_size):
        piece = tokenizer.id_to_token(i)
        if piece is None or piece in special:
            out.append(b"")
        elif table is not None and all(c in table for c in piece):
            out.append(bytes(table[c] for c in piece))
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
