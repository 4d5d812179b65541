"""`mtp synth TASK`: write a synthetic task's training corpus and test problems (options: the task's
settings dataclass, `mtp_cli.synth.write`)."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from mtp_cli.cli.console import console, progress_display
from mtp_cli.cli.declared import build_command
from mtp_cli.cli.usage import help_when_bare
from mtp_cli.synth.write import InductionSettings, PolynomialSettings

app = typer.Typer(help="Synthetic tasks where multi-token prediction shows at small scale (the method's §4).", rich_markup_mode=None)
app.callback(invoke_without_command=True)(help_when_bare)


def run_polynomials(given: dict[str, dict[str, Any]]) -> None:
    from mtp_cli.synth import write_polynomials

    settings = PolynomialSettings(**given["settings"])
    with progress_display() as progress:
        manifest = write_polynomials(settings, progress)
    table = Table(title=f"{settings.out}: polynomials")
    for column in ("train problems", "operations (train)", "test problems", "operations (test)"):
        table.add_column(column, justify="right")
    table.add_row(f"{manifest['train']['problems']:,}", f"1-{settings.train_max_operations}", f"{manifest['test']['problems']:,}",
                  f"1-{settings.test_max_operations}")
    console.print(table)


def run_induction(given: dict[str, dict[str, Any]]) -> None:
    from mtp_cli.synth import write_induction

    settings = InductionSettings(**given["settings"])
    with progress_display() as progress:
        manifest = write_induction(settings, progress)
    table = Table(title=f"{settings.out}: induction")
    for column in ("train stories", "names (train)", "test stories", "test items", "names (test)"):
        table.add_column(column, justify="right")
    table.add_row(f"{settings.train_stories:,}", str(manifest["train"]["names"]), str(settings.test_stories),
                  f"{manifest['test']['items']:,}", str(len(manifest["test"]["names"])))
    console.print(table)


POLYNOMIALS_HELP = """Polynomial arithmetic in F_7[X]/(X^5): negation, addition, multiplication and composition.

    \b
    Example:
      mtp synth polynomials --out data/poly-text && mtp tokenize data/poly-text/train.jsonl --tokenizer bytes --out data/poly
    """
INDUCTION_HELP = """Induction: template stories with made-up two-syllable names; complete a repeated name's second syllable.

    \b
    Example:
      mtp synth induction --out data/induction-text && mtp tokenize data/induction-text/train.jsonl --tokenizer bytes --out data/induction
    """

for task, settings_class, run, help_text in (
    ("polynomials", PolynomialSettings, run_polynomials, POLYNOMIALS_HELP),
    ("induction", InductionSettings, run_induction, INDUCTION_HELP),
):
    app.command(task)(build_command(task, {"settings": settings_class}, run, help_text))
