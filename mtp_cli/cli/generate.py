"""`mtp generate`: parse options, run `generate_samples`, show a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from mtp_cli.cli.console import console, log_every_option, progress_display
from mtp_cli.cli.declared import build_command
from mtp_cli.generate.config import GenerateConfig


def run_generate(given: dict[str, dict[str, Any]], log_every: float) -> None:
    from mtp_cli.generate import generate_samples

    config = GenerateConfig(**given["config"])
    with progress_display(log_every) as progress:
        manifest = generate_samples(config, progress)
    console.print(summary_table(manifest, config.out))


generate = build_command(
    "generate",
    {"config": GenerateConfig},
    run_generate,
    """Generate completions for benchmark or custom prompts, optionally with self-speculative decoding.

    \b
    Example:
      mtp generate runs/tiny-n4 --dataset humaneval --mode speculative --out samples/he-spec.jsonl
    """,
    [log_every_option()],
)


def summary_table(manifest: dict, out: Path) -> Table:
    t = manifest["totals"]
    table = Table(title=f"{out}: {manifest['mode']}, {manifest['inputs'][0]['path']}")
    for column in ("prompts", "samples", "new tokens", "seconds", "tokens/s", "tokens/forward"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{t['prompts']:,}",
        f"{t['samples']:,}",
        f"{t['new_tokens']:,}",
        f"{t['seconds']:.1f}",
        f"{t['tokens_per_second']:,.1f}",
        f"{t['tokens_per_forward']:.2f}",
    )
    if "acceptance_per_head" in t:
        rates = ", ".join(f"head {j + 2}: {r:.0%}" for j, r in enumerate(t["acceptance_per_head"]))
        table.caption = f"draft acceptance per head: {rates}"
    return table
