"""Weights read one tensor at a time and written as a stream, so a conversion never holds two copies.

`TensorSource` names a model's tensors with their shapes and dtypes and loads each on demand, from
safetensors files (memory-mapped by the library) or PyTorch `.pth` files (`torch.load(mmap=True)`),
concatenating model-parallel shards where a tensor is split across files. `write_safetensors` takes
the tensors' metadata first and their data one by one: the header of a safetensors file must come
first and the library's own writers need every tensor in memory at once. A tensor that passes
unchanged from a safetensors file is copied byte for byte by the kernel (`os.copy_file_range`),
never entering Python's memory.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import torch
from safetensors import safe_open

from mtp_cli.artifacts import MtpError

# safetensors' dtype names (the format's specification) for the dtypes model weights come in.
SAFETENSORS_DTYPES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}
TORCH_DTYPES = {name: dtype for dtype, name in SAFETENSORS_DTYPES.items()}


@dataclass(frozen=True)
class TensorInfo:
    shape: tuple[int, ...]
    dtype: torch.dtype


@dataclass(frozen=True)
class ByteSpan:
    """Where a tensor's bytes lie in a file."""

    path: Path
    offset: int
    length: int


@dataclass
class PlannedTensor:
    """One tensor of a file being written: its name, shape, dtype, and how to make it when its turn
    comes; or, for a tensor that passes unchanged, the bytes to copy."""

    name: str
    info: TensorInfo
    make: Callable[[], torch.Tensor] | None = None
    copy: ByteSpan | None = None


class TensorSource:
    """Named tensors spread over files; nothing is read until `load`."""

    def __init__(self) -> None:
        self._infos: dict[str, TensorInfo] = {}
        self._loaders: dict[str, Callable[[], torch.Tensor]] = {}
        self._spans: dict[str, ByteSpan] = {}

    def add(self, name: str, info: TensorInfo, load: Callable[[], torch.Tensor], span: ByteSpan | None = None) -> None:
        self._infos[name] = info
        self._loaders[name] = load
        if span is not None:
            self._spans[name] = span

    def names(self) -> list[str]:
        return list(self._infos)

    def __contains__(self, name: str) -> bool:
        return name in self._infos

    def info(self, name: str) -> TensorInfo:
        return self._infos[name]

    def load(self, name: str) -> torch.Tensor:
        return self._loaders[name]()

    def planned(self, name: str, target: str, convert: Callable[[torch.Tensor], torch.Tensor] | None = None) -> PlannedTensor:
        """`name` written as `target`: copied byte for byte where it can be, else loaded and converted."""
        if convert is None and name in self._spans:
            return PlannedTensor(target, self._infos[name], copy=self._spans[name])
        convert = convert or (lambda t: t)
        return PlannedTensor(target, self._infos[name], make=lambda: convert(self.load(name)))

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> "TensorSource":
        """Tensors already in memory (a sharded checkpoint, consolidated)."""
        source = cls()
        for name, tensor in tensors.items():
            source.add(name, TensorInfo(tuple(tensor.shape), tensor.dtype), lambda t=tensor: t)
        return source

    @classmethod
    def from_safetensors(cls, files: Iterable[Path]) -> "TensorSource":
        source = cls()
        for path in files:
            try:
                header, data_start = read_safetensors_header(path)
            except (OSError, ValueError, KeyError) as e:
                raise MtpError(f"{path} is not a readable safetensors file ({e})", "the model folder is damaged") from None
            for name, entry in header.items():
                if name == "__metadata__":
                    continue
                if entry["dtype"] not in TORCH_DTYPES:
                    raise MtpError(f"{path}: tensor {name} has dtype {entry['dtype']}, which mtp does not read")
                start, end = entry["data_offsets"]
                info = TensorInfo(tuple(entry["shape"]), TORCH_DTYPES[entry["dtype"]])
                source.add(name, info, _safetensors_loader(path, name), ByteSpan(path, data_start + start, end - start))
        return source

    @classmethod
    def from_torch_shards(cls, files: list[Path], split_dim: Callable[[str], int | None]) -> "TensorSource":
        """`.pth` state dicts of one model split over `files` (model parallel, in rank order);
        `split_dim(name)` says along which dimension a tensor was split (None: every file has it whole)."""
        shards = []
        for path in files:
            try:
                shards.append(torch.load(path, map_location="cpu", mmap=True, weights_only=True))
            except Exception as e:  # torch raises many types for a file that is not a checkpoint
                raise MtpError(f"{path} is not a readable PyTorch checkpoint ({type(e).__name__})", "the model folder is damaged") from None
        source = cls()
        for name, first in shards[0].items():
            dim = split_dim(name) if len(shards) > 1 else None
            pieces = [shard[name] for shard in shards]
            shape = list(first.shape)
            if dim is not None:
                shape[dim] = sum(p.shape[dim] for p in pieces)
            load = (lambda p=pieces, d=dim: torch.cat(p, dim=d)) if dim is not None else (lambda t=first: t)
            source.add(name, TensorInfo(tuple(shape), first.dtype), load)
        return source


def _safetensors_loader(path: Path, name: str) -> Callable[[], torch.Tensor]:
    def load() -> torch.Tensor:
        with safe_open(str(path), "pt") as f:
            return f.get_tensor(name)

    return load


def read_safetensors_header(path: Path) -> tuple[dict, int]:
    """A safetensors file's JSON header and the offset where its data starts (the format's
    specification: an 8-byte little-endian header length, the header, then the data)."""
    with open(path, "rb") as f:
        length = int.from_bytes(f.read(8), "little")
        if not 0 < length < 100_000_000:
            raise ValueError("no safetensors header")
        return json.loads(f.read(length)), 8 + length


def _copy_span(out, span: ByteSpan) -> None:
    """Append `span`'s bytes to the unbuffered file `out`, in the kernel where it can."""
    with open(span.path, "rb", buffering=0) as src:
        done = 0
        while done < span.length:
            try:
                moved = os.copy_file_range(src.fileno(), out.fileno(), span.length - done, span.offset + done)
            except (AttributeError, OSError):  # no copy_file_range (macOS), or across file systems
                src.seek(span.offset + done)
                chunk = src.read(min(span.length - done, 1 << 26))
                _write_all(out, memoryview(chunk))
                moved = len(chunk)
            if moved <= 0:
                raise OSError(f"{span.path} ended inside a tensor")
            done += moved


def write_safetensors(path: Path, tensors: list[PlannedTensor], metadata: dict[str, str] | None = None, on_tensor=None) -> None:
    """Write a safetensors file whose tensors are made (or copied) one at a time."""
    header: dict[str, object] = {"__metadata__": {"format": "pt", **(metadata or {})}}
    offset = 0
    for item in tensors:
        size = item.info.dtype.itemsize * math.prod(item.info.shape)
        header[item.name] = {
            "dtype": SAFETENSORS_DTYPES[item.info.dtype],
            "shape": list(item.info.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned
    with open(path, "wb", buffering=0) as f:  # unbuffered: kernel copies and writes interleave
        f.write(len(encoded).to_bytes(8, "little") + encoded)
        for item in tensors:
            if item.copy is not None:
                _copy_span(f, item.copy)
            else:
                tensor = item.make()
                if tuple(tensor.shape) != item.info.shape or tensor.dtype != item.info.dtype:
                    raise ValueError(f"{item.name}: made {tuple(tensor.shape)} {tensor.dtype}, planned {item.info}")
                _write_all(f, memoryview(tensor.detach().contiguous().reshape(-1).view(torch.uint8).numpy()))
            if on_tensor is not None:
                on_tensor(item)


def _write_all(out, data: memoryview) -> None:
    """An unbuffered write may write less than asked: write until all of it is out."""
    while len(data):
        data = data[out.write(data) :]

