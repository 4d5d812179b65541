"""What `mtp tokenize` is asked to do: one dataclass, each option declared once with its help."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mtp_cli.artifacts.options import option

DEFAULT_INCLUDE = ("*.py",)
DECODE_POLICIES = ("replace", "skip", "fail")


@dataclass
class TokenizeConfig:
    out: Path = option(help="Output folder (built beside it, then renamed into place).", flags=("-o",))
    sources: list[str] = option(
        default_factory=list, argument=True, metavar="SOURCES...",
        help="Files and folders: code files (recursed, filtered by --include), .txt, .jsonl, .jsonl.gz, .parquet, "
        "or a `datasets.save_to_disk` folder. None: this Python's standard library source.",
    )
    tokenizer: str = option(
        "bpe", "bpe (the shipped code BPE; with --vocab-size, a BPE trained on this corpus), bytes, or the path of a "
        "tokenizer.json to copy.",
    )
    vocab_size: int | None = option(None, "Train a byte-level BPE of this size on the corpus.", default_text="none, the shipped 32768-token BPE")
    seq_len: int = option(2048, "Tokens per row.")
    val_fraction: float = option(
        0.005, "Fraction of documents in the validation split; of each document's tokens (its end) when the corpus "
        "has too few documents.",
    )
    include: list[str] = option(
        default_factory=lambda: list(DEFAULT_INCLUDE), help="Glob of files to take from folders (repeatable).", metavar="GLOB",
    )
    text_field: str | None = option(None, "JSONL/parquet/datasets field holding the text.", default_text="text, then content")
    workers: int = option(0, "Worker processes (0: all cores). Output is identical for any count.")
    seed: int = option(0, "Seed of the train/validation split.")
    on_decode_error: str = option("replace", "Non-UTF-8 input: replace (counted), skip, or fail.")
    eos_token: str | None = option(None, "End-of-text token of a --tokenizer file, when it is not a usual name.", default_text="the usual names")
    shard_tokens: int = option(1 << 27, "Tokens per Arrow shard file.")
    overwrite: bool = option(False, "Replace an existing mtp artifact at --out.")
    validation: list[str] = option(
        default_factory=list, metavar="SOURCE", default_text="none: split the corpus",
        help="The validation set's own sources (repeatable): all of SOURCES then trains; --val-fraction is unused.",
    )
