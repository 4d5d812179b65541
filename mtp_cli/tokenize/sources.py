"""Finding the documents of a corpus: files, directories, JSONL, parquet and `datasets` folders.

Discovery runs in the main process and yields small work units in a fixed order; reading and
decoding a unit (`read_unit`) runs in a worker. Every document gets a key that does not depend on
where the corpus lives (a path relative to its source argument, plus a line or row number), so the
train/validation split is the same on any machine.
"""

from __future__ import annotations

import codecs
import fnmatch
import gzip
import hashlib
import json
import os
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from mtp_cli.artifacts import MtpError

SKIPPED_DIRS = {".git", ".hg", ".svn", "__pycache__"}
STDLIB_EXCLUDED_DIRS = {"site-packages", "dist-packages"}
FALLBACK_TEXT_FIELD = "content"

UNIT_BYTES = 1 << 20  # about this much source text per work unit
UNIT_FILES = 256


@dataclass(frozen=True)
class Source:
    """One SOURCES argument, resolved."""

    arg: str
    kind: str  # files | jsonl | parquet | datasets | stdlib
    root: Path
    files: tuple[Path, ...]
    bytes: int

    def key_of(self, path: Path) -> str:
        if self.root.is_dir():
            return path.relative_to(self.root).as_posix()
        return path.name


@dataclass
class FileUnit:
    """Whole files, each one document."""

    source: int
    keys: list[str]
    paths: list[str]
    progress: int = 0  # source bytes this unit covers


@dataclass
class JsonlUnit:
    """Raw JSONL lines of one file, parsed in the worker."""

    source: int
    path: str
    key: str
    first_line: int
    lines: list[bytes]
    progress: int = 0


@dataclass
class TextUnit:
    """Texts already read from a columnar file (parquet, Arrow)."""

    source: int
    keys: list[str]
    texts: list[str | None]
    progress: int = 0
    field: str = ""  # the column the texts come from


Unit = FileUnit | JsonlUnit | TextUnit


@dataclass
class Document:
    key: str
    text: str | None  # None when skipped
    text_bytes: int  # UTF-8 bytes of the text
    skip: str | None = None  # why it was skipped
    replaced: int = 0  # undecodable bytes replaced by U+FFFD
    field: str | None = None  # the record field or column it was read from; None for a plain file


@dataclass
class UnitDocs:
    source: int
    docs: list[Document]
    files: list[dict] = field(default_factory=list)  # per input file: path, bytes, sha256 (file units)


# ---------------------------------------------------------------------------------------- discovery


def _matches(rel: str, name: str, include: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(name, pat) or fnmatch.fnmatch(rel, pat) for pat in include)


def _walk(root: Path, include: tuple[str, ...], excluded: set[str]) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=None, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in excluded)
        base = Path(dirpath)
        for name in sorted(filenames):
            path = base / name
            if _matches(path.relative_to(root).as_posix(), name, include):
                found.append(path)
    return found


def _file_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".jsonl") or name.endswith(".jsonl.gz"):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    return "files"


def _datasets_files(folder: Path) -> list[Path] | None:
    """The Arrow files of a `datasets.save_to_disk` folder (a Dataset or a DatasetDict), else None."""
    if (folder / "state.json").is_file() and (folder / "dataset_info.json").is_file():
        state = json.loads((folder / "state.json").read_text())
        return [folder / f["filename"] for f in state.get("_data_files", [])]
    if (folder / "dataset_dict.json").is_file():
        splits = json.loads((folder / "dataset_dict.json").read_text()).get("splits", [])
        return [f for split in splits for f in (_datasets_files(folder / split) or [])]
    return None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as e:
        raise MtpError(f"cannot read {path}: {e.strerror}", "fix or remove the file") from None


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def resolve_sources(args: list[str], include: tuple[str, ...]) -> list[Source]:
    """Turn SOURCES arguments into Sources; no arguments means the running Python's standard library."""
    if not args:
        root = stdlib_root()
        files = _walk(root, include, SKIPPED_DIRS | STDLIB_EXCLUDED_DIRS)
        return [Source("<python stdlib>", "stdlib", root, tuple(files), sum(_size(f) for f in files))]
    sources: list[Source] = []
    for arg in args:
        path = Path(arg)
        if not path.exists():
            raise MtpError(f"source {arg} does not exist", "check the path")
        if path.is_dir():
            arrow_files = _datasets_files(path)
            if arrow_files is not None:
                kind, files = "datasets", arrow_files
            else:
                kind, files = "files", _walk(path, include, SKIPPED_DIRS)
        else:
            kind, files = _file_kind(path), [path]
        sources.append(Source(arg, kind, path, tuple(files), sum(_size(f) for f in files)))
    return sources


# --------------------------------------------------------------------------------------- work units


def _file_units(index: int, source: Source, files: list[Path]) -> Iterator[FileUnit]:
    unit = FileUnit(index, [], [])
    for path in files:
        unit.keys.append(source.key_of(path))
        unit.paths.append(str(path))
        unit.progress += _size(path)
        if unit.progress >= UNIT_BYTES or len(unit.paths) >= UNIT_FILES:
            yield unit
            unit = FileUnit(index, [], [])
    if unit.paths:
        yield unit


def _jsonl_units(index: int, source: Source, path: Path) -> Iterator[JsonlUnit]:
    key = source.key_of(path)
    try:
        with open(path, "rb") as raw:
            f = gzip.GzipFile(fileobj=raw) if path.name.lower().endswith(".gz") else raw
            lines: list[bytes] = []
            first, size, position = 1, 0, 0
            for number, line in enumerate(f, start=1):
                lines.append(line)
                size += len(line)
                if size >= UNIT_BYTES:
                    yield JsonlUnit(index, str(path), key, first, lines, raw.tell() - position)
                    lines, first, size, position = [], number + 1, 0, raw.tell()
            if lines:
                yield JsonlUnit(index, str(path), key, first, lines, _size(path) - position)
    except (OSError, EOFError) as e:
        raise MtpError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}", "fix or remove the file") from None


def _text_column(schema: pa.Schema, path: Path, text_field: str, explicit: bool) -> str:
    names = schema.names
    if text_field in names:
        return text_field
    if not explicit and FALLBACK_TEXT_FIELD in names:
        return FALLBACK_TEXT_FIELD
    raise MtpError(
        f"{path} has no column '{text_field}'" + ("" if explicit else f" (nor '{FALLBACK_TEXT_FIELD}')"),
        f"its columns are {', '.join(names)}; pass --text-field NAME",
    )


def _batches_units(index: int, source: Source, path: Path, batches, rows: int, column: str) -> Iterator[TextUnit]:
    key, size = source.key_of(path), _size(path)
    row = 0
    for batch in batches:
        texts = batch.column(0).to_pylist()
        progress = size * (row + len(texts)) // max(rows, 1) - size * row // max(rows, 1)
        yield TextUnit(index, [f"{key}:{row + i}" for i in range(len(texts))], texts, progress, column)
        row += len(texts)


def _parquet_units(index: int, source: Source, path: Path, text_field: str, explicit: bool) -> Iterator[TextUnit]:
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as e:
        raise MtpError(f"cannot read {path} as parquet: {e}", "fix or remove the file") from None
    column = _text_column(parquet.schema_arrow, path, text_field, explicit)
    batches = parquet.iter_batches(batch_size=1024, columns=[column])
    yield from _batches_units(index, source, path, batches, parquet.metadata.num_rows, column)


def _arrow_units(index: int, source: Source, path: Path, text_field: str, explicit: bool) -> Iterator[TextUnit]:
    try:
        reader = pa.ipc.open_stream(pa.memory_map(str(path)))
    except (OSError, pa.ArrowException) as e:
        raise MtpError(f"cannot read {path} as an Arrow file: {e}", "fix or remove the file") from None
    column = _text_column(reader.schema, path, text_field, explicit)
    table = reader.read_all().select([column])  # memory-mapped: no copy
    yield from _batches_units(index, source, path, table.to_batches(max_chunksize=1024), table.num_rows, column)


def iter_units(sources: list[Source], text_field: str, explicit_field: bool) -> Iterator[Unit]:
    """All work units of all sources, in a fixed order."""
    for index, source in enumerate(sources):
        if source.kind in ("files", "stdlib"):
            # A directory may mix plain files and record files (when --include asks for them).
            by_kind: dict[str, list[Path]] = {}
            for path in source.files:
                by_kind.setdefault("files" if source.kind == "stdlib" else _file_kind(path), []).append(path)
            yield from _file_units(index, source, by_kind.pop("files", []))
            for path in by_kind.pop("jsonl", []):
                yield from _jsonl_units(index, source, path)
            for path in by_kind.pop("parquet", []):
                yield from _parquet_units(index, source, path, text_field, explicit_field)
        elif source.kind == "jsonl":
            yield from _jsonl_units(index, source, source.files[0])
        elif source.kind == "parquet":
            yield from _parquet_units(index, source, source.files[0], text_field, explicit_field)
        elif source.kind == "datasets":
            for path in source.files:
                yield from _arrow_units(index, source, path, text_field, explicit_field)


# ---------------------------------------------------------------------------- reading (in a worker)

_replaced_bytes = 0


def _count_and_replace(error: UnicodeDecodeError) -> tuple[str, int]:
    global _replaced_bytes
    _replaced_bytes += error.end - error.start
    return "\ufffd", error.end


codecs.register_error("mtp-count-replace", _count_and_replace)


def decode_text(data: bytes, where: str, policy: str) -> tuple[str | None, int]:
    """UTF-8 text and the number of undecodable bytes replaced; None when the policy skips it."""
    global _replaced_bytes
    try:
        return data.decode("utf-8"), 0
    except UnicodeDecodeError as e:
        if policy == "fail":
            raise MtpError(
                f"{where} is not valid UTF-8 (byte {e.start})",
                "pass --on-decode-error replace or skip to go on",
            ) from None
        if policy == "skip":
            return None, 0
    _replaced_bytes = 0
    text = data.decode("utf-8", errors="mtp-count-replace")
    return text, _replaced_bytes


def clean_surrogates(text: str) -> tuple[str, int, int]:
    """JSON can carry lone surrogates, which no UTF-8 tokenizer accepts: replace and count them.

    Returns the text, its UTF-8 length, and the number of characters replaced.
    """
    try:
        return text, len(text.encode("utf-8")), 0
    except UnicodeEncodeError:
        encoded = text.encode("utf-8", errors="replace")
        cleaned = encoded.decode("utf-8")
        return cleaned, len(encoded), sum(1 for a, b in zip(text, cleaned) if a != b)


def _read_files(unit: FileUnit, policy: str) -> UnitDocs:
    out = UnitDocs(unit.source, [])
    for key, path in zip(unit.keys, unit.paths):
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise MtpError(f"cannot read {path}: {e.strerror}", "fix or remove the file") from None
        out.files.append({"path": key, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        if not data:
            out.docs.append(Document(key, None, 0, skip="empty"))
        elif b"\x00" in data:
            out.docs.append(Document(key, None, 0, skip="binary"))
        else:
            text, replaced = decode_text(data, path, policy)
            if text is None:
                out.docs.append(Document(key, None, 0, skip="not UTF-8"))
            else:
                size = len(data) if not replaced else len(text.encode("utf-8"))
                out.docs.append(Document(key, text, size, replaced=replaced))
    return out


def _field_value(record: object, text_field: str, explicit: bool) -> tuple[str, object]:
    """(the field read, its value); the value is KeyError when the record has neither field."""
    if not isinstance(record, dict):
        return text_field, KeyError
    if text_field in record:
        return text_field, record[text_field]
    if not explicit and FALLBACK_TEXT_FIELD in record:
        return FALLBACK_TEXT_FIELD, record[FALLBACK_TEXT_FIELD]
    return text_field, KeyError


def _read_jsonl(unit: JsonlUnit, policy: str, text_field: str, explicit: bool) -> UnitDocs:
    out = UnitDocs(unit.source, [])
    for offset, raw in enumerate(unit.lines):
        number = unit.first_line + offset
        where = f"{unit.path} line {number}"
        key = f"{unit.key}:{number}"
        if not raw.strip():
            continue
        line, replaced = decode_text(raw, where, policy)
        if line is None:
            out.docs.append(Document(key, None, 0, skip="not UTF-8"))
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise MtpError(f"{where} is not valid JSON", "fix or remove that line") from None
        field, value = _field_value(record, text_field, explicit)
        if value is KeyError or not (isinstance(value, str) or value is None):
            wanted = f"'{text_field}'" + ("" if explicit else f" or '{FALLBACK_TEXT_FIELD}'")
            raise MtpError(f"{where} has no text field {wanted}", "pass --text-field NAME")
        out.docs.append(_text_document(key, value, replaced, field))
    return out


def _text_document(key: str, value: str | None, replaced: int = 0, field: str | None = None) -> Document:
    if not value:
        return Document(key, None, 0, skip="empty", field=field)
    text, size, surrogates = clean_surrogates(value)
    return Document(key, text, size, replaced=replaced + surrogates, field=field)


def _read_texts(unit: TextUnit) -> UnitDocs:
    return UnitDocs(unit.source, [_text_document(key, text, field=unit.field) for key, text in zip(unit.keys, unit.texts)])


def read_unit(unit: Unit, policy: str, text_field: str, explicit_field: bool) -> UnitDocs:
    if isinstance(unit, FileUnit):
        return _read_files(unit, policy)
    if isinstance(unit, JsonlUnit):
        return _read_jsonl(unit, policy, text_field, explicit_field)
    return _read_texts(unit)
