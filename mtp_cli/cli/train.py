"""`mtp train`: parse options, run `mtp_cli.train.train` under a live display, show a summary.

Under torchrun only rank 0 shows the display and the summary; every rank returns the same status.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.live import Live
from rich.table import Table

from mtp_cli.artifacts import MtpError
from mtp_cli.cli.console import console, err_console

RESUME_AUTO = "--resume-auto"  # what `--resume auto` is parsed as (a flag cannot take a value on every typer)


def train(
    data: Path = typer.Argument(..., help="A folder written by `mtp tokenize`.", show_default=False),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder: manifest.json, metrics.jsonl, checkpoints/."),
    preset: Optional[str] = typer.Option(None, help="Model size: tiny, small, base, 1b, 7b. [default: tiny]"),
    heads: Optional[int] = typer.Option(None, help="n: prediction heads; head k predicts the token k ahead. [default: 4]"),
    steps: Optional[int] = typer.Option(None, help="Optimizer steps. [default: one pass over the train split]"),
    tokens: Optional[int] = typer.Option(None, help="Train on this many tokens instead of --steps."),
    batch_tokens: Optional[int] = typer.Option(None, help="Tokens per optimizer step (whole rows). [default: 32768]"),
    micro_batch: Optional[int] = typer.Option(None, help="Rows per forward/backward; gradients accumulate. [default: 4]"),
    lr: Optional[float] = typer.Option(None, help="Peak learning rate. [default: 3e-4]"),
    warmup: Optional[int] = typer.Option(None, help="Linear warmup steps. [default: 2% of the steps]"),
    min_lr_ratio: Optional[float] = typer.Option(None, help="Cosine decays to this fraction of --lr. [default: 0.03]"),
    grad_clip: Optional[float] = typer.Option(None, help="Gradient norm clip. [default: 1.0]"),
    weight_decay: Optional[float] = typer.Option(None, help="AdamW decoupled weight decay on matrices. [default: 0.1]"),
    loss_weights: Optional[str] = typer.Option(None, help="Comma-separated weight per head, e.g. 1,0.5,0.5,0.5. [default: all 1]"),
    device: Optional[str] = typer.Option(None, help="auto, cpu, cuda, cuda:N (bf16 autocast on CUDA). [default: auto]"),
    seed: Optional[int] = typer.Option(None, help="Seed of the initialization and the data order. [default: 0]"),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its newest complete checkpoint; `--resume auto` starts a new run when --out holds none (torchrun restarts)."),
    resume_auto: bool = typer.Option(False, RESUME_AUTO, hidden=True),
    init_from: Optional[Path] = typer.Option(None, help="Start from this checkpoint (a run folder or a step folder); --heads may differ."),
    freeze_trunk: bool = typer.Option(False, "--freeze-trunk", help="With --init-from: train only the extra heads, keep the next-token model."),
    set_fields: List[str] = typer.Option([], "--set", metavar="FIELD=VALUE", help="Model field override FIELD=VALUE (repeatable), e.g. --set dim=256."),
    head_type: Optional[str] = typer.Option(None, help="transformer (parallel blocks on the trunk), linear (extra heads only), causal (head k on head k-1) or anticausal (head n first, head 1 on top). [default: transformer]"),
    window_loss: Optional[int] = typer.Option(None, metavar="W", help="Add a window head: which tokens occur in the next W positions (binary cross-entropy), e.g. 4, 8, 16. [default: none]"),
    window_weight: Optional[float] = typer.Option(None, help="The window loss's weight. [default: 1.0]"),
    heads_on_top: bool = typer.Option(False, "--heads-on-top", help="Keep the n=1 trunk whole and add the extra heads on top."),
    tie_embeddings: bool = typer.Option(False, "--tie-embeddings", help="Share the embedding and unembedding matrices."),
    naive_mtp: bool = typer.Option(False, "--naive-mtp", help="Keep all heads' logits alive at once (benchmark only)."),
    eval_every: Optional[int] = typer.Option(None, help="Validation loss per head every N steps. [default: 250]"),
    eval_tokens: Optional[int] = typer.Option(None, help="Validation tokens per evaluation. [default: 262144]"),
    save_every: Optional[int] = typer.Option(None, help="Checkpoint every N steps (and at the end). [default: 500]"),
    keep_checkpoints: Optional[int] = typer.Option(None, help="Checkpoints kept. [default: 3]"),
    compile_blocks: bool = typer.Option(False, "--compile", help="torch.compile each transformer block (Triton on CUDA, a C++ compiler on CPU)."),
    fsdp: bool = typer.Option(False, "--fsdp", help="Under torchrun: shard weights, gradients and optimizer state (FSDP2) instead of replicating."),
    activation_checkpointing: bool = typer.Option(False, "--activation-checkpointing", help="Recompute trunk activations in backward: less memory, ~1/3 more trunk compute."),
    async_checkpoint: bool = typer.Option(False, "--async-checkpoint", help="Write each checkpoint in the background while training goes on; the next save waits for it."),
    threads: Optional[int] = typer.Option(None, help="Torch CPU threads (0: one per core, faster on idle cores of your own; slower when they are shared). [default: 1]"),
    peak_tflops: Optional[float] = typer.Option(None, help="One device's peak TFLOP/s, for MFU. [default: known GPUs' dense bf16 peak; none on CPU]"),
) -> int:
    """Train a transformer with n future-token heads on `mtp tokenize` output.

    \b
    Example:
      mtp train data/mine --out runs/tiny-n4 --preset tiny --heads 4 --steps 600
    """
    from mtp_cli.model import parse_override
    from mtp_cli.train import TrainConfig, config_for_resume, holds_run
    from mtp_cli.train import train as run_training

    model_overrides = dict(parse_override(text) for text in set_fields)
    for name, value in (("head_type", head_type), ("window_size", window_loss), ("extra_heads_on_top", heads_on_top or None), ("tie_embeddings", tie_embeddings or None)):
        if value is not None:
            model_overrides[name] = value
    options: dict[str, Any] = dict(
        data=data, out=out, preset=preset, heads=heads, steps=steps, tokens=tokens, batch_tokens=batch_tokens,
        micro_batch=micro_batch, lr=lr, warmup=warmup, min_lr_ratio=min_lr_ratio, grad_clip=grad_clip,
        weight_decay=weight_decay, loss_weights=parse_weights(loss_weights), window_weight=window_weight, device=device, seed=seed,
        init_from=init_from, freeze_trunk=freeze_trunk or None, naive_mtp=naive_mtp or None,
        model_overrides=model_overrides or None, eval_every=eval_every, eval_tokens=eval_tokens,
        save_every=save_every, keep_checkpoints=keep_checkpoints, compile=compile_blocks or None, fsdp=fsdp or None,
        activation_checkpointing=activation_checkpointing or None, peak_tflops=peak_tflops, threads=threads,
        async_checkpoint=async_checkpoint or None,
    )
    given = {name: value for name, value in options.items() if value is not None}
    if resume_auto:
        resume = holds_run(out)
    config = config_for_resume(out, given) if resume else TrainConfig(**given)
    main_process = os.environ.get("RANK", "0") == "0"  # torchrun's other ranks stay quiet
    with TrainDisplay() if main_process else contextlib.nullcontext() as display:
        result = run_training(config, resume=resume, observer=display)
    if not main_process:
        return 130 if result.status == "interrupted" else 0
    console.print(summary_table(result, out))
    if result.status == "interrupted":
        err_console.print(f"[yellow]interrupted[/] at step {result.step}: saved {result.checkpoint}; continue with --resume")
        return 130
    return 0


def spell_resume_auto(args: list[str]) -> list[str]:
    """`mtp train ... --resume auto` as the hidden flag the parser knows."""
    if not args or args[0] != "train":
        return args
    spelled = list(args)
    for i in range(len(spelled) - 1):
        if spelled[i] == "--resume" and spelled[i + 1] == "auto":
            spelled[i : i + 2] = [RESUME_AUTO]
            break
    return spelled


def parse_weights(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise MtpError(f"--loss-weights {text!r} is not a comma-separated list of numbers", "e.g. 1,0.5,0.5,0.5") from None


def _losses(values: list[float]) -> str:
    return "  ".join(f"{v:.3f}" for v in values)


def _mfu(value: float | None) -> str:
    return "" if value is None else f"MFU {100 * value:.1f}%"


class TrainDisplay:
    """Live status line while training: step, tokens/s, per-head loss, learning rate, ETA."""

    def __init__(self) -> None:
        self.live = Live(console=err_console, refresh_per_second=4, transient=False)
        self.plan: dict[str, Any] = {}
        self.started = time.perf_counter()
        self.step_seconds: float | None = None
        self.last_eval = ""

    def __enter__(self) -> "TrainDisplay":
        self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.live.__exit__(*exc)
        if not err_console.is_terminal:  # rich ends a terminal's live line, not a file's
            err_console.line()

    def on_start(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        processes = f" x {plan['world_size']} processes" if plan.get("world_size", 1) > 1 else ""
        err_console.print(
            f"training {plan['parameters'] / 1e6:.1f}M parameters, {plan['heads']} head{'s' if plan['heads'] != 1 else ''}, on {plan['device']}{processes}: "
            f"steps {plan['start_step']}..{plan['total_steps']}, {plan['tokens_per_step']:,} tokens per step"
        )
        if not plan.get("validation_rows"):
            err_console.print("[yellow]warning:[/] the data has no validation split: no validation loss will be shown "
                              "(tokenize with --val-fraction or --validation SOURCES)", highlight=False, soft_wrap=True)

    def on_step(self, record: dict[str, Any]) -> None:
        seconds = record["step_seconds"]
        self.step_seconds = seconds if self.step_seconds is None else 0.9 * self.step_seconds + 0.1 * seconds
        remaining = (self.plan["total_steps"] - record["step"]) * self.step_seconds
        table = Table.grid(padding=(0, 2))
        table.add_row(
            f"[bold]step[/] {record['step']}/{self.plan['total_steps']}",
            f"{record['tokens_per_second']:,.0f} tok/s",
            _mfu(record.get("mfu")),
            f"lr {record['lr']:.2e}",
            f"[bold]loss per head[/] {_losses(record['head_loss'])}",
            f"ETA {time.strftime('%H:%M:%S', time.gmtime(remaining))}",
        )
        if self.last_eval:
            table.add_row("", "", "", "", self.last_eval, "")
        self.live.update(table)

    def on_eval(self, record: dict[str, Any]) -> None:
        self.last_eval = f"[bold]validation[/] {_losses(record['head_loss'])} (step {record['step']})"

    def on_checkpoint(self, step: int, folder: Path) -> None:
        pass

    def on_notice(self, message: str) -> None:
        err_console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def summary_table(result, out: Path) -> Table:
    table = Table(title=f"{out}: {result.status} at step {result.step}/{result.total_steps}")
    for column in ("head", "predicts", "train loss", "train top-1", "validation loss", "validation top-1"):
        table.add_column(column, justify="right")
    train, val = result.last_train, result.last_eval
    for k, loss in enumerate(train.get("head_loss", [])):
        table.add_row(
            str(k + 1),
            f"t+{k + 1}",
            f"{loss:.4f}",
            f"{train['head_accuracy'][k]:.3f}",
            f"{val['head_loss'][k]:.4f}" if val else "-",
            f"{val['head_accuracy'][k]:.3f}" if val else "-",
        )
    mfu = f", last step {_mfu(train['mfu'])}" if train.get("mfu") is not None else ""
    table.caption = (
        f"{result.tokens_seen:,} tokens in {result.elapsed_seconds:.1f}s of steps "
        f"({result.tokens_seen / max(result.elapsed_seconds, 1e-9):,.0f} tokens/s{mfu}); checkpoint: {result.checkpoint}"
    )
    return table
