"""`mtp report`: parse the paths, run `write_report`, list what was written."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer
from rich.table import Table

from mtp_cli.cli.console import console


def report(
    runs: List[Path] = typer.Argument(
        ..., metavar="PATHS...", help="Training runs, samples files (.jsonl with their .manifest.json), evaluation folders, or folders holding them (a pipeline's output).",
        show_default=False,
    ),
    out: Path = typer.Option(Path("report"), "--out", "-o", help="Report folder (an earlier report there is replaced)."),
) -> None:
    """Draw loss, tokens-per-forward, speed-up and pass@k figures, with a Markdown summary.

    \b
    Example:
      mtp report runs/tiny-n1 runs/tiny-n4 samples/ --out report
    """
    from mtp_cli.report import ReportConfig, write_report  # matplotlib loads only when a report is made

    result = write_report(ReportConfig(inputs=list(runs), out=out))
    console.print(written_table(result))


def written_table(result) -> Table:
    from mtp_cli.report.summary import plural

    read = result.read
    counts = [plural(read["runs"], "run"), plural(read["samples"], "samples file"), plural(read["evals"], "evaluation")]
    table = Table(title=f"{result.out}: from {', '.join(counts)}")
    table.add_column("file", style="cyan", no_wrap=True)
    table.add_column("contents")
    for name, title in result.figures.items():
        table.add_row(name, title)
    table.add_row("summary.md", "the figures and their numbers as tables")
    table.add_row("manifest.json", "inputs with their hashes")
    for name, reason in result.skipped.items():
        table.add_row(f"[dim]{name}[/]", f"[yellow]not drawn:[/] {reason}")
    return table


