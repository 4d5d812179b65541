"""`mtp synth TASK`: write a synthetic task's training corpus and test problems."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from mtp_cli.cli.console import console, progress_display
from mtp_cli.cli.usage import help_when_bare

app = typer.Typer(help="Synthetic tasks where multi-token prediction shows at small scale (the method's §4).", rich_markup_mode=None)
app.callback(invoke_without_command=True)(help_when_bare)


@app.command("polynomials")
def polynomials(
    out: Path = typer.Option(..., "--out", "-o", help="The folder to write: train.jsonl, test.jsonl, manifest.json."),
    seed: int = typer.Option(0, help="Seed of every draw: the same seed writes the same files."),
    train_problems: int = typer.Option(100_000, help="Training problems (one document each)."),
    test_problems: int = typer.Option(200, help="Test problems per number of operations."),
    train_max_operations: int = typer.Option(5, help="Training problems have 1 to this many operations."),
    test_max_operations: int = typer.Option(10, help="Test sets for 1 to this many operations (more than training's: out of domain)."),
    overwrite: bool = typer.Option(False, "--overwrite/--no-overwrite", help="Replace an existing synthetic task folder at --out."),
) -> None:
    """Polynomial arithmetic in F_7[X]/(X^5): negation, addition, multiplication and composition.

    Example: mtp synth polynomials --out data/poly-text && mtp tokenize data/poly-text/train.jsonl --tokenizer bytes --out data/poly
    """
    from mtp_cli.synth import PolynomialSettings, write_polynomials

    settings = PolynomialSettings(out, seed, train_problems, test_problems, train_max_operations, test_max_operations, overwrite)
    with progress_display() as progress:
        manifest = write_polynomials(settings, progress)
    table = Table(title=f"{out}: polynomials")
    for column in ("train problems", "operations (train)", "test problems", "operations (test)"):
        table.add_column(column, justify="right")
    table.add_row(f"{manifest['train']['problems']:,}", f"1-{train_max_operations}", f"{manifest['test']['problems']:,}", f"1-{test_max_operations}")
    console.print(table)


@app.command("induction")
def induction(
    out: Path = typer.Option(..., "--out", "-o", help="The folder to write: train.jsonl, test.jsonl, manifest.json."),
    seed: int = typer.Option(0, help="Seed of every draw: the same seed writes the same files."),
    train_stories: int = typer.Option(20_000, help="Training stories (one document each)."),
    test_stories: int = typer.Option(100, help="Test stories; each gives one item per repeated mention of a name."),
    held_out_names: int = typer.Option(32, help="Two-syllable names kept out of training, for the test stories."),
    overwrite: bool = typer.Option(False, "--overwrite/--no-overwrite", help="Replace an existing synthetic task folder at --out."),
) -> None:
    """Induction: template stories with made-up two-syllable names; complete a repeated name's second syllable.

    Example: mtp synth induction --out data/induction-text && mtp tokenize data/induction-text/train.jsonl --tokenizer bytes --out data/induction
    """
    from mtp_cli.synth import InductionSettings, write_induction

    with progress_display() as progress:
        manifest = write_induction(InductionSettings(out, seed, train_stories, test_stories, held_out_names, overwrite), progress)
    table = Table(title=f"{out}: induction")
    for column in ("train stories", "names (train)", "test stories", "test items", "names (test)"):
        table.add_column(column, justify="right")
    table.add_row(f"{train_stories:,}", str(manifest["train"]["names"]), str(test_stories), f"{manifest['test']['items']:,}", str(len(manifest["test"]["names"])))
    console.print(table)
