"""What a training run is asked to do: one dataclass, and the rule for what `--resume` may change."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtp_cli.artifacts import MtpError

# Options that only change how a run executes, not what it computes (up to float rounding for
# micro_batch, compile and fsdp), so a resumed run may set them anew. Everything else must match the
# stored run. The number of processes is not an option: a run resumes under any world size.
RESUMABLE_CHANGES = frozenset(
    {
        "data", "out", "device", "micro_batch", "eval_every", "eval_tokens", "save_every", "keep_checkpoints",
        "compile", "fsdp", "activation_checkpointing", "peak_tflops", "threads", "async_checkpoint",
    }
)


@dataclass
class TrainConfig:
    data: Path
    out: Path
    preset: str = "tiny"
    model_overrides: dict[str, Any] = field(default_factory=dict)  # ModelConfig fields (--set and friends)
    heads: int = 4
    steps: int | None = None  # None: from `tokens`, else one pass over the train split
    tokens: int | None = None
    batch_tokens: int = 32768  # tokens per optimizer step, rounded to whole rows
    micro_batch: int = 4  # rows per forward/backward (per process); gradients accumulate over the step's rows
    lr: float = 3e-4
    min_lr_ratio: float = 0.03  # cosine decays to this fraction of lr (the method's code runs)
    warmup: int | None = None  # steps; None: 2% of the steps
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    loss_weights: list[float] | None = None  # None: the method's unweighted sum
    window_weight: float = 1.0  # the window loss's weight (a model with --window-loss w)
    device: str = "auto"
    seed: int = 0
    naive_mtp: bool = False  # all heads' logits alive at once; for the benchmark only
    init_from: Path | None = None
    freeze_trunk: bool = False
    eval_every: int = 250
    eval_tokens: int = 1 << 18
    save_every: int = 500
    keep_checkpoints: int = 3
    compile: bool = False  # torch.compile each transformer block
    fsdp: bool = False  # shard parameters, gradients and optimizer state over the torchrun processes
    activation_checkpointing: bool = False  # recompute trunk activations in backward
    peak_tflops: float | None = None  # one device's peak, for MFU; None: known GPUs' bf16 peak, else no MFU
    threads: int | None = None  # torch CPU threads; None: 1 (mtp_cli/model/threads.py), 0: one per physical core
    async_checkpoint: bool = False  # write each checkpoint in the background while training goes on

    def __post_init__(self) -> None:
        self.data, self.out = Path(self.data), Path(self.out)
        self.init_from = Path(self.init_from) if self.init_from is not None else None
        self.betas = tuple(self.betas)
        self.validate()

    def validate(self) -> None:
        if self.steps is not None and self.tokens is not None:
            raise MtpError("--steps and --tokens both given", "pass one of them")
        positive = ("heads", "batch_tokens", "micro_batch", "eval_every", "save_every", "keep_checkpoints")
        for name in positive + ("steps", "tokens"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise MtpError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise MtpError(f"--lr must be a positive number, got {self.lr}")
        if self.threads is not None and self.threads < 0:
            raise MtpError(f"--threads must be 0 (one per core) or more, got {self.threads}", "leave it out for the default, 1")
        if self.peak_tflops is not None and not (self.peak_tflops > 0 and math.isfinite(self.peak_tflops)):
            raise MtpError(f"--peak-tflops must be a positive number, got {self.peak_tflops}")
        if self.warmup is not None and self.warmup < 0:
            raise MtpError(f"--warmup must be at least 0, got {self.warmup}")
        if self.loss_weights is not None:
            weights = self.loss_weights
            if len(weights) != self.heads:
                raise MtpError(f"--loss-weights has {len(weights)} values for {self.heads} heads", "give one weight per head")
            if any(not math.isfinite(w) or w < 0 for w in weights) or not any(weights):
                raise MtpError(f"--loss-weights {weights} must be finite, non-negative, not all zero")
        if not (self.window_weight >= 0 and math.isfinite(self.window_weight)):
            raise MtpError(f"--window-weight must be a finite number >= 0, got {self.window_weight}")
        if self.freeze_trunk and self.init_from is None:
            raise MtpError("--freeze-trunk needs a trained model to freeze", "pass --init-from CKPT")
        if self.freeze_trunk and self.heads == 1:
            raise MtpError(
                "--freeze-trunk with --heads 1 leaves nothing to train",
                "it trains extra heads on a frozen next-token model: pass --heads 2 or more",
            )

    @property
    def head_weights(self) -> list[float]:
        return list(self.loss_weights) if self.loss_weights is not None else [1.0] * self.heads

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def merge_for_resume(stored: dict[str, Any], given: dict[str, Any]) -> TrainConfig:
    """The stored run's config with the options given now; refuses any that would change the run."""
    current = TrainConfig.from_dict(stored).to_dict()
    asked = TrainConfig.from_dict({**current, **given}).to_dict()
    differing = [
        f"{name}: run has {current[name]!r}, now {asked[name]!r}"
        for name in given
        if name not in RESUMABLE_CHANGES and asked[name] != current[name]
    ]
    if differing:
        raise MtpError(
            "--resume with a different config: " + "; ".join(differing),
            "drop those options to continue the run as it was, or train into a new --out",
        )
    return TrainConfig.from_dict(asked)
