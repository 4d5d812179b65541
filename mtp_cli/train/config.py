"""What a training run is asked to do: one dataclass, and the rule for what `--resume` may change."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtp_cli.artifacts import MtpError
from mtp_cli.artifacts.options import option, parse_list
from mtp_cli.model.device import DEVICE_HELP
from mtp_cli.train.trackers import check_trackers

# Options that only change how a run executes, not what it computes (up to float rounding for
# micro_batch, compile and fsdp), so a resumed run may set them anew. Everything else must match the
# stored run. The number of processes is not an option: a run resumes under any world size.
RESUMABLE_CHANGES = frozenset(
    {
        "data", "out", "device", "micro_batch", "eval_every", "eval_tokens", "save_every", "keep_checkpoints",
        "compile", "fsdp", "activation_checkpointing", "peak_tflops", "threads", "log_to", "async_checkpoint",
    }
)


def _overrides(texts: list[str]) -> dict[str, Any]:
    from mtp_cli.model import parse_override

    return dict(parse_override(text) for text in texts)


def _weights(text: str) -> list[float]:
    return parse_list(text, float, "--loss-weights", "1,0.5,0.5,0.5")


@dataclass
class TrainConfig:
    # Each field that `mtp train` offers is declared here once, with its help and default; the command
    # line is made from these declarations (mtp_cli/cli/declared.py) and recipes read the same fields.
    data: Path = option(help="A folder written by `mtp tokenize`.", argument=True, metavar="DATA")
    out: Path = option(help="Run folder: manifest.json, metrics.jsonl, checkpoints/.", flags=("-o",))
    preset: str = option("tiny", "Model size: tiny, small, base, 1b, 7b.")
    model_overrides: dict[str, Any] = option(
        default_factory=dict, help="Model field override FIELD=VALUE (repeatable), e.g. --set dim=256.", name="--set",
        metavar="FIELD=VALUE", cli_type=list[str], parse=_overrides, default_text="the preset's",
    )  # ModelConfig fields (--set and the model options)
    heads: int = option(4, "n: prediction heads; head k predicts the token k ahead.")
    steps: int | None = option(None, "Optimizer steps.", default_text="from --tokens, else one pass over the train split")
    tokens: int | None = option(None, "Train on this many tokens instead of --steps.")
    batch_tokens: int = option(32768, "Tokens per optimizer step (whole rows).")
    micro_batch: int = option(4, "Rows per forward/backward (per process); gradients accumulate.")
    lr: float = option(3e-4, "Peak learning rate.")
    min_lr_ratio: float = option(0.03, "Cosine decays to this fraction of --lr (the method's code runs).")
    warmup: int | None = option(None, "Linear warmup steps.", default_text="2% of the steps")
    weight_decay: float = option(0.1, "AdamW decoupled weight decay on matrices.")
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = option(1.0, "Gradient norm clip.")
    loss_weights: list[float] | None = option(
        None, "Comma-separated weight per head, e.g. 1,0.5,0.5,0.5.", cli_type=str, parse=_weights, metavar="W1,W2,...",
        default_text="all 1, the method's unweighted sum",
    )
    window_weight: float = option(1.0, "The window loss's weight (a model with --window-loss W).")
    device: str = option("auto", f"{DEVICE_HELP}; bf16 autocast on CUDA.")
    seed: int = option(0, "Seed of the initialization and the data order.")
    naive_mtp: bool = option(False, "Keep all heads' logits alive at once (benchmark only).")
    init_from: Path | None = option(None, "Start from this checkpoint (a run folder or a step folder); --heads may differ.")
    freeze_trunk: bool = option(False, "With --init-from: train only the extra heads, keep the next-token model.")
    eval_every: int = option(250, "Validation loss per head every N steps.")
    eval_tokens: int = option(1 << 18, "Validation tokens per evaluation.")
    save_every: int = option(500, "Checkpoint every N steps (and at the end).")
    keep_checkpoints: int = option(3, "Checkpoints kept.")
    compile: bool = option(False, "torch.compile each transformer block (Triton on CUDA, a C++ compiler on CPU).")
    fsdp: bool = option(False, "Under torchrun: shard weights, gradients and optimizer state (FSDP2) instead of replicating.")
    activation_checkpointing: bool = option(False, "Recompute trunk activations in backward: less memory, ~1/3 more trunk compute.")
    peak_tflops: float | None = option(
        None, "One device's peak TFLOP/s, for MFU.", default_text="known GPUs' dense bf16 peak; none on CPU",
    )
    threads: int | None = option(
        None, "Torch CPU threads (0: one per core, faster on idle cores of your own; slower when they are shared).",
        default_text="1",
    )
    log_to: list[str] = option(
        default_factory=list, help="Also send every metrics.jsonl record to tensorboard, wandb or mlflow (repeatable; "
        "rank 0 only; pip install 'mtp-cli[trackers]').", metavar="TRACKER", default_text="none",
    )
    async_checkpoint: bool = option(
        False, "Write each checkpoint in the background while training goes on; the next save waits for it.",
    )

    def __post_init__(self) -> None:
        self.data, self.out = Path(self.data), Path(self.out)
        self.init_from = Path(self.init_from) if self.init_from is not None else None
        self.betas = tuple(self.betas)
        self.log_to = list(self.log_to)
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
        check_trackers(self.log_to)
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


def _same_model(name: str, current: dict[str, Any], asked: dict[str, Any]) -> bool:
    """Overrides that build the same model (`--no-tie-embeddings` on a run that never tied) change nothing."""
    if name != "model_overrides":
        return False
    from mtp_cli.model.config import build_config

    return build_config(current["preset"], current["model_overrides"]) == build_config(asked["preset"], asked["model_overrides"])


def merge_for_resume(stored: dict[str, Any], given: dict[str, Any]) -> TrainConfig:
    """The stored run's config with the options given now; refuses any that would change the run."""
    current = TrainConfig.from_dict(stored).to_dict()
    if "model_overrides" in given:  # model options given now add to the run's, as at its start
        given = {**given, "model_overrides": {**current["model_overrides"], **given["model_overrides"]}}
    asked = TrainConfig.from_dict({**current, **given}).to_dict()
    differing = [
        f"{name}: run has {current[name]!r}, now {asked[name]!r}"
        for name in given
        if name not in RESUMABLE_CHANGES and asked[name] != current[name] and not _same_model(name, current, asked)
    ]
    if differing:
        raise MtpError(
            "--resume with a different config: " + "; ".join(differing),
            "drop those options to continue the run as it was, or train into a new --out",
        )
    return TrainConfig.from_dict(asked)
