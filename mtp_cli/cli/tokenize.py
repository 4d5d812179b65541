"""`mtp tokenize`: parse options, run `tokenize_corpus`, show a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from mtp_cli.cli.console import console, err_console, human_bytes, log_every_option, progress_display
from mtp_cli.cli.declared import build_command
from mtp_cli.tokenize.config import TokenizeConfig


def run_tokenize(given: dict[str, dict[str, Any]], log_every: float) -> None:
    from mtp_cli.tokenize import tokenize_corpus

    cfg = TokenizeConfig(**given["config"])
    with progress_display(log_every) as progress:
        manifest = tokenize_corpus(cfg, progress)
    console.print(summary_table(manifest, cfg.out))
    for read in manifest["text_fields"]:
        err_console.print(f"read field '{read['field']}' of {read['source']}: {read['documents']:,} documents, "
                          f"{human_bytes(read['bytes'])}", highlight=False, soft_wrap=True)
    for warning in manifest["warnings"]:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


tokenize = build_command(
    "tokenize",
    {"config": TokenizeConfig},
    run_tokenize,
    """Tokenize a code corpus into packed rows of token ids, in Arrow shards with a manifest.

    \b
    Example:
      mtp tokenize ~/src/repos --include '*.py' --seq-len 512 --out data/mine
    """,
    [log_every_option()],
)


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
