"""Which field each record source's text was read from, how much text it gave, and whether it reads
like code.

JSONL, parquet and `datasets` sources default to the field `text` (then `content`). In some code
datasets that field holds the problem statement and the code is elsewhere (MBPP: `text` and
`code`), so a defaulted field that reads like prose is warned about. Code is dense in brackets,
operators and underscores; prose has almost none (MBPP's `text`: under 1% of its non-space
characters, its `code`: over 10%).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

CODE_SYMBOLS = frozenset("()[]{}=:;<>_#")
PROSE_SHARE = 0.03  # a field whose sampled text has fewer code symbols than this reads like prose
SAMPLE_DOCUMENTS = 200  # documents per field looked at (their first SAMPLE_CHARS characters)
SAMPLE_CHARS = 4000


@dataclass
class FieldTally:
    source: str
    field: str
    documents: int = 0
    bytes: int = 0
    sampled_characters: int = 0
    sampled_code_symbols: int = 0

    def add(self, text: str, text_bytes: int) -> None:
        self.documents += 1
        self.bytes += text_bytes
        if self.documents <= SAMPLE_DOCUMENTS:
            characters = [c for c in text[:SAMPLE_CHARS] if not c.isspace()]
            self.sampled_characters += len(characters)
            self.sampled_code_symbols += sum(c in CODE_SYMBOLS for c in characters)

    @property
    def code_symbol_share(self) -> float:
        return self.sampled_code_symbols / max(self.sampled_characters, 1)


class FieldReport:
    """Tallies of the documents read from record fields, per (source, field)."""

    def __init__(self, source_args: list[str], explicit_field: bool):
        self.source_args = source_args
        self.explicit_field = explicit_field
        self.tallies: dict[tuple[int, str], FieldTally] = {}

    def add(self, source: int, field: str | None, text: str | None, text_bytes: int) -> None:
        if field is None or text is None:  # a plain file, or a skipped document
            return
        key = (source, field)
        if key not in self.tallies:
            self.tallies[key] = FieldTally(self.source_args[source], field)
        self.tallies[key].add(text, text_bytes)

    def summary(self) -> list[dict]:
        return [asdict(t) | {"code_symbol_share": round(t.code_symbol_share, 4)} for t in self.tallies.values()]

    def warnings(self) -> list[str]:
        if self.explicit_field:  # the user chose the field: prose is what they asked for
            return []
        return [
            f"field '{t.field}' of {t.source} reads like prose, not code ({t.code_symbol_share:.1%} code symbols "
            f"such as brackets and '=' in its text): if the code is in another field, pass --text-field NAME"
            for t in self.tallies.values()
            if t.code_symbol_share < PROSE_SHARE
        ]
