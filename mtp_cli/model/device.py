"""The one device resolver every command uses: `--device auto|cpu|cuda|cuda:N|mps`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mtp_cli.artifacts import MtpError

if TYPE_CHECKING:
    import torch

DEVICE_HELP = "auto (a GPU when torch sees one, else the CPU), cpu, cuda, cuda:N or mps"


def resolve_device(name: str, local_rank: int | None = None, world_size: int = 1) -> torch.device:
    """The device `--device` names; under torchrun (`local_rank` given) `cuda` is this process's GPU."""
    import torch  # here, not above: configs import DEVICE_HELP without torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise MtpError(f"--device {name!r} is not a device", f"use {DEVICE_HELP}") from None
    if device.type == "cuda" and device.index is not None and local_rank is not None and world_size > 1:
        raise MtpError(
            f"--device {name} under torchrun would put all {world_size} processes on GPU {device.index}",
            "use --device cuda (or auto): each process takes cuda:LOCAL_RANK; pick GPUs with CUDA_VISIBLE_DEVICES",
        )
    if device.type == "cuda" and not torch.cuda.is_available():
        raise MtpError(f"--device {name}, but this torch sees no CUDA device", "use --device cpu or auto")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise MtpError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA devices", "use --device cuda or auto")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise MtpError(f"--device {name}, but this torch sees no MPS device", "use --device cpu or auto")
    if device.type == "cuda" and device.index is None and local_rank is not None:
        device = torch.device("cuda", local_rank)
    return device
