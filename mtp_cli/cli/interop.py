"""`mtp import` and `mtp export`: models in from Hugging Face or the method's release, and back out."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from mtp_cli.cli.console import console, progress_display

IMPORT_HELP = (
    "Import a local model folder as an mtp checkpoint (nothing is downloaded).\n\n"
    "SRC is a Hugging Face causal LM folder (config.json with model_type, model.safetensors or sharded "
    "model-*.safetensors with their index, tokenizer.json) or the method's release layout (params.json, "
    "consolidated.*.pth, tokenizer.model beside them or one folder up).\n\n"
    "Supported: Llama 1/2/3 (grouped-query attention, rope_scaling linear or llama3); SmolLM-style tied "
    "embeddings; Mistral (context capped at its sliding window, where windowed attention is exact); "
    "Qwen2/Qwen2.5 (q/k/v biases); any rope_theta and rms_norm_eps; the release's n-head models with their "
    "extra heads. A Hugging Face model imports with n = 1; a folder written by `mtp export` gets its extra "
    "heads back. Anything else (MoE, other attention) is refused.\n\n"
    "A Hugging Face model's safetensors files are kept as they are: the checkpoint holds them as hard links "
    "(copies across file systems), so the import takes about one read of the weights and no extra disk; "
    "a source file rewritten in place afterwards is detected and refused.\n\n"
    "Example: mtp import ~/models/Qwen2.5-Coder-0.5B --out ckpt/qwen-coder"
)


def import_command(
    src: Path = typer.Argument(..., help="The model folder: Hugging Face or release layout."),
    out: Path = typer.Option(..., "--out", "-o", help="The checkpoint folder to write."),
    tokenizer: Optional[Path] = typer.Option(None, help="Release layout only: the SentencePiece tokenizer.model, if not beside the weights or one folder up."),
    overwrite: bool = typer.Option(False, "--overwrite/--no-overwrite", help="Replace an existing mtp artifact at --out."),
) -> None:
    from mtp_cli.interop import import_model

    with progress_display() as progress:
        manifest = import_model(src, out, overwrite, tokenizer, progress)
    model = manifest["model"]
    table = Table(title=f"{out}: imported from {manifest['inputs'][0]['kind']}")
    for column in ("parameters", "dtype", "layers", "dim", "heads (kv)", "n", "context", "vocab", "BOS"):
        table.add_column(column, justify="right")
    kv = model["n_kv_heads"] or model["n_heads"]
    table.add_row(
        f"{manifest['parameters'] / 1e6:,.1f}M",
        manifest["dtype"],
        str(model["n_layers"]),
        str(model["dim"]),
        f"{model['n_heads']} ({kv})",
        str(model["n_future_tokens"]),
        f"{model['max_seq_len']:,}",
        f"{model['vocab_size']:,}",
        manifest["tokenizer"].get("bos_token") or "-",
    )
    console.print(table)


import_command.__doc__ = IMPORT_HELP


def export_command(
    checkpoint: Path = typer.Argument(..., help="A run folder (its latest checkpoint) or a checkpoint folder."),
    out: Path = typer.Option(..., "--out", "-o", help="The Hugging Face folder to write."),
    overwrite: bool = typer.Option(False, "--overwrite/--no-overwrite", help="Replace an existing mtp artifact at --out."),
) -> None:
    """Export a checkpoint as a Hugging Face folder: AutoModelForCausalLM loads the next-token model.

    The extra heads go beside it (mtp_heads.safetensors + mtp_heads.json), so `mtp import` of the folder restores the n-head model bit for bit.

    Example: mtp export runs/drafts --out hf/drafts
    """
    from mtp_cli.interop import export_model

    with progress_display() as progress:
        manifest = export_model(checkpoint, out, overwrite, progress)
    table = Table(title=f"{out}: Hugging Face folder")
    for column in ("model_type", "heads in the model", "extra heads beside it", "files"):
        table.add_column(column)
    extra = manifest["n_future_tokens"] - 1
    table.add_row(manifest["model_type"], "1", str(extra) if extra else "-", ", ".join(manifest["files"]))
    console.print(table)
