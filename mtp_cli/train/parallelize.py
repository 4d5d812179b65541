"""How the model is made to run fast and across processes: compile, activation checkpointing, FSDP2.

Applied in torchtitan's order to a built (and, on resume, loaded) model, before the optimizer sees
its parameters: each transformer block is compiled in place (`Module.compile` keeps parameter names,
so checkpoints do not change); trunk blocks are wrapped for activation checkpointing (the wrapper
strips its prefix from state dicts); then, under `--fsdp`, every block and the root are sharded with
`fully_shard`. Each of these leaves what the model computes unchanged, up to float rounding.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

import torch
import torch.distributed as dist
from torch import nn

from mtp_cli.artifacts import MtpError
from mtp_cli.model import MtpTransformer
from mtp_cli.model.layers import Block
from mtp_cli.train.config import TrainConfig

# The model's pieces that training and evaluation call instead of forward() (see objective.py).
FORWARD_METHODS = ("trunk", "head", "unembed")


def prepare_model(model: MtpTransformer, config: TrainConfig, device: torch.device) -> MtpTransformer:
    if config.compile:
        check_compiler(device)
        for block in blocks(model):
            block.compile()
    if config.activation_checkpointing:
        apply_activation_checkpointing(model)
    if config.fsdp:
        apply_fsdp(model)
    return model


def blocks(model: MtpTransformer) -> list[nn.Module]:
    """Every transformer block: the trunk's, head 1's, and the extra heads' when they are blocks."""
    return [m for m in (*model.layers, *model.extra_heads) if isinstance(m, Block)]


def check_compiler(device: torch.device) -> None:
    """torch.compile needs Triton on CUDA and a C++ compiler on the CPU; say so before compiling."""
    if device.type == "cuda":
        if importlib.util.find_spec("triton") is None:
            raise MtpError("--compile on CUDA needs Triton, which this torch install lacks", "pip install triton, or drop --compile")
        return
    compilers = (os.environ.get("CXX"), "g++", "c++", "clang++")
    if not any(c and shutil.which(c) for c in compilers):
        raise MtpError("--compile on the CPU needs a C++ compiler (g++ or clang++) on PATH", "install one, or drop --compile")


def apply_activation_checkpointing(model: MtpTransformer) -> None:
    """Recompute each trunk block's activations in backward instead of keeping them (non-reentrant).

    Only the trunk: a head's activations already live only while that head runs its backward.
    """
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import CheckpointImpl, checkpoint_wrapper

    for i in range(len(model.trunk_blocks)):
        model.layers[i] = checkpoint_wrapper(model.layers[i], checkpoint_impl=CheckpointImpl.NO_REENTRANT)


def apply_fsdp(model: MtpTransformer) -> None:
    """Shard every block, then the root (embeddings, final norm, unembedding, linear heads).

    Gradients are summed across ranks rather than averaged: the loss scales already divide by the
    whole step's target count, as in the single-process step.
    """
    if not dist.is_initialized():
        raise MtpError(
            "--fsdp shards the model over a process group, and this process is not in one",
            "launch with torchrun: torchrun --standalone --nproc-per-node N -m mtp_cli train ... (N may be 1)",
        )
    try:
        from torch.distributed.fsdp import FSDPModule, fully_shard, register_fsdp_forward_method
    except ImportError:
        raise MtpError(f"--fsdp needs FSDP2, which torch {torch.__version__} lacks", "install torch 2.6 or newer") from None

    for block in (*model.layers, *model.extra_heads):
        if isinstance(block, Block) or isinstance(getattr(block, "_checkpoint_wrapped_module", None), Block):
            fully_shard(block)
    fully_shard(model)
    for name in FORWARD_METHODS:
        register_fsdp_forward_method(model, name)
    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.set_gradient_divide_factor(1.0)
            if dist.get_backend() == "gloo":  # gloo has no PREMUL_SUM: ask for a plain sum
                module.set_force_sum_reduction_for_comms(True)


def is_sharded(model: nn.Module) -> bool:
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in model.parameters())
