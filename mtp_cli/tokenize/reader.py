"""Reading `mtp tokenize` output: memory-mapped rows, and windows that run past a row's end.

The trainer's head k needs the k tokens after a row as targets; rows are stored in stream order, so
those are the first tokens of the next row. `SplitTokens.window` returns a row plus that look-ahead
and how many of the returned tokens are real (the split's tail is padding, never a target).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from mtp_cli.artifacts import MtpError, read_manifest, sha256_file
from mtp_cli.tokenize.vocab import TokenizerSpec, load_spec_from_json


class SplitTokens:
    """One split's rows, memory-mapped from its shards (nothing is read until indexed)."""

    def __init__(self, folder: Path, info: dict, seq_len: int):
        self.seq_len = seq_len
        self.num_rows = info["rows"]
        self.last_row_tokens = info["last_row_tokens"]
        self.real_tokens = max(0, (self.num_rows - 1) * seq_len + self.last_row_tokens) if self.num_rows else 0
        self._chunks: list[np.ndarray] = []  # 2-D (rows, seq_len) views into the mapped files
        for shard in info["shards"]:
            path = folder / shard["file"]
            if not path.is_file():
                raise MtpError(f"shard {path} is missing", "the dataset folder is damaged; tokenize again")
            table = pa.ipc.open_stream(pa.memory_map(str(path))).read_all()
            for chunk in table.column(0).chunks:
                self._chunks.append(chunk.flatten().to_numpy(zero_copy_only=True).reshape(-1, seq_len))
        self._starts = np.cumsum([0] + [len(c) for c in self._chunks]).tolist()
        if self._starts[-1] != self.num_rows:
            raise MtpError(f"{folder} holds {self._starts[-1]} rows, its manifest says {self.num_rows}", "tokenize again")

    def __len__(self) -> int:
        return self.num_rows

    def row(self, index: int) -> np.ndarray:
        chunk = bisect.bisect_right(self._starts, index) - 1
        return self._chunks[chunk][index - self._starts[chunk]]

    def window(self, index: int, extra: int) -> tuple[np.ndarray, int]:
        """Row `index` followed by up to `extra` tokens of the stream after it, and the count of real tokens.

        The array always has seq_len + extra entries; entries at or beyond the real count are filler.
        """
        if not 0 <= index < self.num_rows:
            raise IndexError(index)
        start = index * self.seq_len
        parts = [self.row(index)]
        following = index + 1
        while sum(len(p) for p in parts) < self.seq_len + extra and following < self.num_rows:
            parts.append(self.row(following))
            following += 1
        tokens = np.concatenate(parts)[: self.seq_len + extra].astype(np.int64)
        real = max(0, min(len(tokens), self.real_tokens - start))
        if len(tokens) < self.seq_len + extra:
            tokens = np.concatenate([tokens, np.zeros(self.seq_len + extra - len(tokens), np.int64)])
        return tokens, real


@dataclass
class TokenizedData:
    """A folder written by `mtp tokenize`, checked against its manifest."""

    folder: Path
    manifest: dict

    @classmethod
    def open(cls, folder: str | Path, verify: bool = False) -> "TokenizedData":
        folder = Path(folder)
        manifest = read_manifest(folder, "tokenized")
        data = cls(folder, manifest)
        if verify:
            data.verify()
        return data

    @property
    def seq_len(self) -> int:
        return self.manifest["seq_len"]

    @property
    def tokenizer(self) -> TokenizerSpec:
        text = (self.folder / "tokenizer.json").read_text()
        return load_spec_from_json(text, self.manifest["tokenizer"]["kind"], self.manifest["tokenizer"]["eos_token"])

    @property
    def vocab_size(self) -> int:
        return self.manifest["tokenizer"]["vocab_size"]

    def split(self, name: str) -> SplitTokens:
        if name not in self.manifest["splits"]:
            raise MtpError(f"{self.folder} has no split '{name}'", f"it has {', '.join(self.manifest['splits'])}")
        return SplitTokens(self.folder / name, self.manifest["splits"][name], self.seq_len)

    def verify(self) -> None:
        """Check every shard's sha256 against the manifest."""
        for name, info in self.manifest["splits"].items():
            for shard in info["shards"]:
                if sha256_file(self.folder / name / shard["file"]) != shard["sha256"]:
                    raise MtpError(f"{self.folder / name / shard['file']} does not match its manifest", "tokenize again")
