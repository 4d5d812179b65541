"""Packing a split's documents into rows of `seq_len` tokens, written as Arrow shards.

Documents are joined with EOS into one stream, cut into rows in stream order (row i+1 continues row
i, so the trainer finds the tokens after a row at the start of the next). The split's last partial
row is padded and its true length recorded. Files follow `datasets.save_to_disk`'s layout, so
`datasets.load_from_disk` and plain `pyarrow.ipc.open_stream` both read them, and the folder holding
the splits gets `dataset_dict.json`, so `datasets.load_from_disk(DIR)` opens it as a DatasetDict.
The column's type is spelled by the installed `datasets` itself (`Features`), because versions spell
it differently ("Sequence" before 4.0, "List" since) and each reads only its own and older spellings.
Every byte written is a function of the tokens and that spelling (no timestamps), so equal inputs
give byte-identical shards.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from mtp_cli.artifacts import sha256_bytes, sha256_file

COLUMN = "input_ids"
BATCH_TOKENS = 1 << 20  # rows are written in Arrow record batches of about this many tokens


def features(seq_len: int, dtype: np.dtype) -> dict:
    """The column's `datasets` features, as the installed `datasets` writes them."""
    import datasets  # imported late: a second to import, and only writing needs it

    column = datasets.Sequence(datasets.Value(dtype.name), length=seq_len)
    return datasets.Features({COLUMN: column}).to_dict()


def arrow_schema(seq_len: int, dtype: np.dtype) -> pa.Schema:
    metadata = {"huggingface": json.dumps({"info": {"features": features(seq_len, dtype)}})}
    return pa.schema([pa.field(COLUMN, pa.list_(pa.from_numpy_dtype(dtype), seq_len))], metadata=metadata)


def write_dataset_dict(folder: Path, splits: list[str]) -> None:
    """`dataset_dict.json`: what makes `datasets.load_from_disk(folder)` a DatasetDict of `splits`."""
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": list(splits)}))


@dataclass
class SplitStats:
    documents: int = 0
    document_bytes: int = 0  # UTF-8 bytes of the documents' text
    tokens: int = 0  # real tokens in the stream, EOS separators included
    rows: int = 0
    last_row_tokens: int = 0  # real tokens in the last row; the rest of it is padding
    padding_tokens: int = 0
    shards: list[dict] = field(default_factory=list)


class SplitWriter:
    """Streams one split to `folder` as data-NNNNN-of-NNNNN.arrow files plus datasets' metadata."""

    def __init__(
        self, folder: Path, seq_len: int, dtype: np.dtype, eos_id: int, pad_id: int, shard_tokens: int, bos_id: int | None = None
    ):
        self.folder = folder
        self.seq_len = seq_len
        self.dtype = dtype
        self.eos = np.array([eos_id], dtype=dtype)
        # A tokenizer with a BOS (Llama's <s>) starts every document with it, as its model was trained.
        self.bos = np.array([bos_id] if bos_id is not None else [], dtype=dtype)
        self.pad_id = pad_id
        self.rows_per_shard = max(1, shard_tokens // seq_len)
        self.rows_per_batch = max(1, min(self.rows_per_shard, BATCH_TOKENS // seq_len))
        self.schema = arrow_schema(seq_len, dtype)
        self.stats = SplitStats()
        self._pending: list[np.ndarray] = []
        self._pending_tokens = 0
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        self._shard_rows = 0
        folder.mkdir(parents=True)

    def add(self, ids: np.ndarray, text_bytes: int) -> None:
        self._pending += [self.bos, ids, self.eos]
        added = len(self.bos) + len(ids) + 1
        self._pending_tokens += added
        self.stats.documents += 1
        self.stats.document_bytes += text_bytes
        self.stats.tokens += added
        if self._pending_tokens >= self.rows_per_batch * self.seq_len:
            self._flush_full_rows()

    def _flush_full_rows(self) -> None:
        stream = np.concatenate(self._pending)
        full = len(stream) // self.seq_len * self.seq_len
        self._write_rows(stream[:full])
        rest = stream[full:]
        self._pending, self._pending_tokens = ([rest] if len(rest) else []), len(rest)

    def _write_rows(self, flat: np.ndarray) -> None:
        rows = flat.reshape(-1, self.seq_len)
        start = 0
        while start < len(rows):
            if self._writer is None:
                self._open_shard()
            take = min(self.rows_per_batch, self.rows_per_shard - self._shard_rows, len(rows) - start)
            values = pa.array(rows[start : start + take].reshape(-1))
            column = pa.FixedSizeListArray.from_arrays(values, self.seq_len)
            self._writer.write_batch(pa.record_batch([column], schema=self.schema))
            self._shard_rows += take
            self.stats.rows += take
            start += take
            if self._shard_rows == self.rows_per_shard:
                self._close_shard()

    def _shard_path(self, index: int) -> Path:
        return self.folder / f"shard-{index:05d}.arrow.tmp"

    def _open_shard(self) -> None:
        self._sink = pa.OSFile(str(self._shard_path(len(self.stats.shards))), "wb")
        self._writer = pa.ipc.new_stream(self._sink, self.schema)
        self._shard_rows = 0

    def _close_shard(self) -> None:
        self._writer.close()
        self._sink.close()
        self.stats.shards.append({"rows": self._shard_rows})
        self._writer = None

    def close(self) -> SplitStats:
        """Pad and write the last row, name the shards, write datasets' metadata; return the stats."""
        stream = np.concatenate(self._pending) if self._pending else np.zeros(0, self.dtype)
        tail = len(stream) % self.seq_len
        if tail:
            padding = np.full(self.seq_len - tail, self.pad_id, dtype=self.dtype)
            stream = np.concatenate([stream, padding])
            self.stats.padding_tokens = self.seq_len - tail
        self._write_rows(stream)
        self.stats.last_row_tokens = tail or (self.seq_len if self.stats.rows else 0)
        if self._writer is not None:
            self._close_shard()
        if not self.stats.shards:  # an empty split is still a loadable dataset
            self._open_shard()
            self._close_shard()
        self._name_shards()
        return self.stats

    def _name_shards(self) -> None:
        count = len(self.stats.shards)
        for index, shard in enumerate(self.stats.shards):
            name = f"data-{index:05d}-of-{count:05d}.arrow"
            os.replace(self._shard_path(index), self.folder / name)
            shard.update(file=name, sha256=sha256_file(self.folder / name))
        fingerprint = sha256_bytes("\n".join(s["sha256"] for s in self.stats.shards).encode())[:16]
        state = {
            "_data_files": [{"filename": s["file"]} for s in self.stats.shards],
            "_fingerprint": fingerprint,
            "_format_columns": None,
            "_format_kwargs": {},
            "_format_type": None,
            "_output_all_columns": False,
            "_split": None,
        }
        info = {"citation": "", "description": "", "features": features(self.seq_len, self.dtype), "homepage": "", "license": ""}
        (self.folder / "state.json").write_text(json.dumps(state, indent=2))
        (self.folder / "dataset_info.json").write_text(json.dumps(info, indent=2))

