"""Weights read one tensor at a time and written as a stream, so a conversion never holds two copies.

`TensorSource` names a model's tensors with their shapes and dtypes and loads each on demand, from
safetensors files (memory-mapped by the library) or PyTorch `.pth` files (`torch.load(mmap=True)`),
concatenating model-parallel shards where a tensor is split across files. `write_safetensors` takes
the tensors' metadata first and their data one by one: the header of a safetensors file must come
first and the library's own writers need every tensor in memory at once.
"""

from __future__ import annotations

import json
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


@dataclass
class PlannedTensor:
    """One tensor of a file being written: its name, shape, dtype, and how to make it when its turn comes."""

    name: str
    info: TensorInfo
    make: Callable[[], torch.Tensor]


class TensorSource:
    """Named tensors spread over files; nothing is read until `load`."""

    def __init__(self) -> None:
        self._infos: dict[str, TensorInfo] = {}
        self._loaders: dict[str, Callable[[], torch.Tensor]] = {}

    def add(self, name: str, info: TensorInfo, load: Callable[[], torch.Tensor]) -> None:
        self._infos[name] = info
        self._loaders[name] = load

    def names(self) -> list[str]:
        return list(self._infos)

    def __contains__(self, name: str) -> bool:
        return name in self._infos

    def info(self, name: str) -> TensorInfo:
        return self._infos[name]

    def load(self, name: str) -> torch.Tensor:
        return self._loaders[name]()

    @classmethod
    def from_safetensors(cls, files: Iterable[Path]) -> "TensorSource":
        source = cls()
        for path in files:
            try:
                with safe_open(str(path), "pt") as f:
                    for name in f.keys():
                        piece = f.get_slice(name)
                        info = TensorInfo(tuple(piece.get_shape()), TORCH_DTYPES[piece.get_dtype()])
                        source.add(name, info, _safetensors_loader(path, name))
            except (OSError, KeyError) as e:
                raise MtpError(f"{path} is not a readable safetensors file ({e})", "the model folder is damaged") from None
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


def write_safetensors(path: Path, tensors: list[PlannedTensor], metadata: dict[str, str] | None = None, on_tensor=None) -> None:
    """Write a safetensors file whose tensors are made one at a time (at most one in memory)."""
    header: dict[str, object] = {"__metadata__": {"format": "pt", **(metadata or {})}}
    offset = 0
    for item in tensors:
        size = item.info.dtype.itemsize * numel(item.info.shape)
        header[item.name] = {
            "dtype": SAFETENSORS_DTYPES[item.info.dtype],
            "shape": list(item.info.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(len(encoded).to_bytes(8, "little"))
        f.write(encoded)
        for item in tensors:
            tensor = item.make()
            if tuple(tensor.shape) != item.info.shape or tensor.dtype != item.info.dtype:
                raise ValueError(f"{item.name}: made {tuple(tensor.shape)} {tensor.dtype}, planned {item.info}")
            f.write(tensor.detach().contiguous().reshape(-1).view(torch.uint8).numpy().data)
            if on_tensor is not None:
                on_tensor(item)


def numel(shape: tuple[int, ...]) -> int:
    total = 1
    for size in shape:
        total *= size
    return total
