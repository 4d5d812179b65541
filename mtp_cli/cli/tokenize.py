"""`mtp tokenize`: parse options, run `tokenize_corpus`, show a summary."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from mtp_cli.cli.console import console, err_console, human_bytes, progress_display


def tokenize(
    sources: List[str] = typer.Argument(
        None,
        metavar="SOURCES...",
        help="Files and folders: code files (recursed, filtered by --include), .txt, .jsonl, .jsonl.gz, "
        ".parquet, or a `datasets.save_to_disk` folder. None: this Python's standard library source.",
        show_default=False,
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (built beside it, then renamed into place)."),
    tokenizer: str = typer.Option(
        "bpe",
        help="bpe (the shipped code BPE; with --vocab-size, a BPE trained on this corpus), bytes, "
        "or the path of a tokenizer.json to copy.",
    ),
    vocab_size: Optional[int] = typer.Option(None, help="Train a byte-level BPE of this size on the corpus. [default: none, the shipped 32768-token BPE]"),
    seq_len: int = typer.Option(2048, help="Tokens per row."),
    val_fraction: float = typer.Option(0.005, help="Fraction of documents in the validation split; of each document's tokens (its end) when the corpus has too few documents."),
    validation: List[str] = typer.Option([], "--validation", metavar="SOURCE", help="The validation set's own sources (repeatable): all of SOURCES then trains; --val-fraction is unused."),
    include: List[str] = typer.Option(["*.py"], metavar="GLOB", help="Glob of files to take from folders (repeatable)."),
    text_field: Optional[str] = typer.Option(None, help="JSONL/parquet/datasets field holding the text. [default: text, then content]"),
    workers: int = typer.Option(0, help="Worker processes (0: all cores). Output is identical for any count."),
    seed: int = typer.Option(0, help="Seed of the train/validation split."),
    on_decode_error: str = typer.Option("replace", help="Non-UTF-8 input: replace (counted), skip, or fail."),
    eos_token: Optional[str] = typer.Option(None, help="End-of-text token of a --tokenizer file, when it is not a usual name."),
    shard_tokens: int = typer.Option(1 << 27, help="Tokens per Arrow shard file."),
    overwrite: bool = typer.Option(False, help="Replace an existing mtp artifact at --out."),
    log_every: float = typer.Option(30.0, help="Seconds between plain progress lines when stderr is not a terminal (SLURM, CI, nohup)."),
) -> None:
    """Tokenize a code corpus into packed rows of token ids, in Arrow shards with a manifest.

    \b
    Example:
      mtp tokenize ~/src/repos --include '*.py' --seq-len 512 --out data/mine
    """
    from mtp_cli.tokenize import TokenizeConfig, tokenize_corpus

    cfg = TokenizeConfig(
        out=out,
        sources=list(sources or []),
        tokenizer=tokenizer,
        vocab_size=vocab_size,
        seq_len=seq_len,
        val_fraction=val_fraction,
        include=list(include),
        text_field=text_field,
        workers=workers,
        seed=seed,
        on_decode_error=on_decode_error,
        eos_token=eos_token,
        shard_tokens=shard_tokens,
        overwrite=overwrite,
        validation=list(validation),
    )
    with progress_display(log_every) as progress:
        manifest = tokenize_corpus(cfg, progress)
    console.print(summary_table(manifest, out))
    for read in manifest["text_fields"]:
        err_console.print(f"read field '{read['field']}' of {read['source']}: {read['documents']:,} documents, "
                          f"{human_bytes(read['bytes'])}", highlight=False, soft_wrap=True)
    for warning in manifest["warnings"]:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


def summary_table(manifest: dict, out: Path) -> Table:
    tok = manifest["tokenizer"]
    seconds = manifest["elapsed_seconds"]
    source_bytes = sum(s["bytes"] for s in manifest["inputs"])
    split_by = {"document": "by document", "position": "by position: each document's end", "sources": "--validation sources"}
    table = Table(title=f"{out}: {tok['origin']}, vocab {tok['vocab_size']}, seq_len {manifest['seq_len']}, "
                  f"validation {split_by[manifest['split_by']]}")
    for column in ("split", "documents", "text", "tokens", "rows", "shards", "tail tokens"):
        table.add_column(column, justify="right" if column != "split" else "left")
    for name, split in manifest["splits"].items():
        table.add_row(
            name,
            f"{split['documents']:,}",
            human_bytes(split["document_bytes"]),
            f"{split['tokens']:,}",
            f"{split['rows']:,}",
            str(len(split["shards"])),
            f"{split['last_row_tokens']:,}",
        )
    tokens = sum(s["tokens"] for s in manifest["splits"].values())
    skipped = ", ".join(f"{n} {reason}" for reason, n in manifest["skipped"]["counts"].items()) or "none"
    table.caption = (
        f"{human_bytes(source_bytes)} read in {seconds:.1f}s ({human_bytes(source_bytes / seconds)}/s, "
        f"{tokens / seconds:,.0f} tokens/s, {manifest['workers_used']} workers); skipped: {skipped}; "
        f"undecodable bytes replaced: {manifest['undecodable_bytes_replaced']}"
    )
    return table
