"""Data-parallel training: who this process is, and the few collectives the trainer needs.

`torchrun --nproc-per-node N` (or a multi-node rendezvous) starts N processes with RANK, WORLD_SIZE
and LOCAL_RANK set; each joins one process group (NCCL on CUDA, gloo on CPU). A process started
without them is a world of one, and every helper here is then a no-op.

Every rank runs the same loop on its own slice of each step's rows; gradients and the per-head loss
sums are summed across ranks, so a step sees exactly the rows and the loss of a single-process step.
Only rank 0 writes files (metrics, manifests, checkpoints); every rank reads them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from mtp_cli.artifacts import MtpError

BUCKET_BYTES = 64 << 20  # gradients are all-reduced in flat buckets of about this size


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    launched: bool = False  # started by torchrun: there is a process group to join, even of one
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))  # where collectives run

    @classmethod
    def from_env(cls) -> "World":
        if "WORLD_SIZE" not in os.environ:
            return cls()
        env = os.environ
        return cls(int(env.get("RANK", 0)), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0)), launched=True)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def on(self, device: torch.device) -> "World":
        return dataclasses.replace(self, device=device)

    def share(self, rows: int) -> slice:
        """This rank's contiguous share of a step's rows: the shares, in rank order, are the step."""
        if rows % self.size:
            raise MtpError(
                f"a step's {rows} rows do not split evenly over {self.size} processes",
                f"choose --batch-tokens as a multiple of {self.size} rows (of the data's sequence length)",
            )
        per_rank = rows // self.size
        return slice(self.rank * per_rank, (self.rank + 1) * per_rank)


def join_process_group(world: World) -> bool:
    """Join torchrun's process group; True when this call created it (and so should end it)."""
    if not world.launched or dist.is_initialized():
        return False
    if world.device.type == "cuda":
        torch.cuda.set_device(world.device)
        dist.init_process_group("nccl", device_id=world.device)
    else:
        dist.init_process_group("gloo")
    return True


def leave_process_group(created: bool) -> None:
    if created and dist.is_initialized():
        dist.destroy_process_group()


def active(world: World) -> bool:
    return world.size > 1 and dist.is_initialized()


def barrier(world: World) -> None:
    if active(world):
        dist.barrier()


def all_reduce_sum_(tensor: torch.Tensor, world: World) -> torch.Tensor:
    """Sum `tensor` over ranks in place (a CPU tensor makes the trip to the device NCCL needs)."""
    if not active(world):
        return tensor
    on_device = tensor.to(world.device)
    dist.all_reduce(on_device)
    if on_device is not tensor:
        tensor.copy_(on_device)
    return tensor


def all_reduce_fields_(sums: object, world: World) -> None:
    """Sum every tensor field of a dataclass (per-head loss sums, target counts) over ranks, in place."""
    for f in dataclasses.fields(sums):
        value = getattr(sums, f.name)
        if isinstance(value, torch.Tensor):
            all_reduce_sum_(value, world)


def any_rank(flag: bool, world: World) -> bool:
    """True on every rank when it is true on any: ranks must agree to stop at the same step."""
    if not active(world):
        return flag
    return bool(all_reduce_sum_(torch.tensor([int(flag)]), world).item())


def broadcast_object(value: Any, world: World) -> Any:
    """Rank 0's `value` (any picklable object) on every rank."""
    if not active(world):
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0, device=world.device if world.device.type == "cuda" else None)
    return box[0]


def all_gather_object(value: Any, world: World) -> list[Any]:
    """Every rank's `value`, in rank order, on every rank."""
    if not active(world):
        return [value]
    gathered: list[Any] = [None] * world.size
    dist.all_gather_object(gathered, value)
    return gathered


def all_reduce_gradients(params: Iterable[torch.nn.Parameter], world: World) -> None:
    """Sum every gradient over ranks, once per optimizer step, in flat buckets.

    Why not DistributedDataParallel: DDP all-reduces from backward hooks and expects one backward per
    forward through its wrapper. The memory-efficient head order runs n + 1 backward passes per
    micro-batch (one per head into the leaf z, then h.backward(z.grad)) through the model's pieces
    (trunk, head, unembed), never through forward(): DDP would reduce the shared unembedding once per
    head, or raise on a parameter marked ready twice. Summing the accumulated gradients after the
    last micro-batch is one reduction per parameter per step, correct for any number of backward
    passes, and deterministic. The loss scales already divide by the whole step's target count, so
    the sum (not the mean) is the single-process gradient.
    """
    if not active(world):
        return
    grads = [p.grad for p in params if p.grad is not None]  # the same parameters on every rank
    for bucket in _buckets(grads, BUCKET_BYTES):
        flat = torch.cat([g.reshape(-1) for g in bucket])
        dist.all_reduce(flat)
        offset = 0
        for g in bucket:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()


def _buckets(tensors: list[torch.Tensor], limit: int) -> Iterable[list[torch.Tensor]]:
    bucket: list[torch.Tensor] = []
    size = 0
    for t in tensors:
        if bucket and (size + t.numel() * t.element_size() > limit or t.dtype != bucket[0].dtype):
            yield bucket
            bucket, size = [], 0
        bucket.append(t)
        size += t.numel() * t.element_size()
    if bucket:
        yield bucket
