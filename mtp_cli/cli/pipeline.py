"""`mtp pipeline run|check`: a recipe from tokenize to the report, and its final table."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.table import Table

from mtp_cli.cli.usage import help_when_bare
from mtp_cli.cli.console import DEFAULT_LOG_EVERY, console, err_console, progress_display

app = typer.Typer(help="Run a recipe: tokenize -> train -> generate -> eval -> report.", rich_markup_mode=None)
app.callback(invoke_without_command=True)(help_when_bare)


class ConsoleReporter:
    """Step lines on stderr, with the steps' own progress bars and training display (plain lines every
    `log_every` seconds when stderr is not a terminal)."""

    def __init__(self, log_every: float = DEFAULT_LOG_EVERY) -> None:
        self.log_every = log_every

    def step_started(self, step: str, detail: str) -> None:
        err_console.rule(f"[bold]{step}[/]: {detail}", align="left")

    def step_skipped(self, step: str, reason: str) -> None:
        err_console.print(f"[green]skipped[/] [bold]{step}[/]: {reason}", highlight=False)

    def step_finished(self, step: str, seconds: float) -> None:
        err_console.print(f"[green]done[/] [bold]{step}[/] in {seconds:.1f}s", highlight=False)

    def progress(self) -> AbstractContextManager[Any]:
        return progress_display(self.log_every)

    def train_observer(self) -> AbstractContextManager[Any]:
        from mtp_cli.cli.train import TrainDisplay

        return TrainDisplay(self.log_every)

    def runs_display(self, runs: list[str]) -> AbstractContextManager[Any]:
        from mtp_cli.cli.train import RunsDisplay

        return RunsDisplay(runs, self.log_every)


def default_out(recipe: Path) -> Path:
    return Path("mtp-out") / recipe.stem


def _load(recipe: Path, out: Optional[Path], overrides: list[str]):
    from mtp_cli.pipeline import build_pipeline, load_recipe_file

    return build_pipeline(load_recipe_file(recipe, overrides), out or default_out(recipe))


@app.command("run")
def run(
    recipe: Path = typer.Argument(..., help="A recipe YAML file, e.g. pipelines/quickstart.yaml.", show_default=False),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder. [default: mtp-out/RECIPE-NAME]"),
    set_values: List[str] = typer.Option([], "--set", metavar="SECTION.KEY=VALUE", help="Override SECTION.KEY=VALUE (repeatable), e.g. --set train.steps=50."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Training runs at a time, each in its own process with its train.threads "
                             "(default 1): --jobs 2 on 2 cores trains two runs at once. Results are the same as with 1."),
    log_every: float = typer.Option(DEFAULT_LOG_EVERY, help="Seconds between plain progress lines when stderr is not a terminal (SLURM, CI, nohup)."),
) -> int:
    """Run every step of a recipe; steps whose settings and inputs are unchanged are skipped.

    \b
    Example:
      mtp pipeline run pipelines/quickstart.yaml --set train.steps=50
      mtp pipeline run pipelines/polynomials.yaml --jobs 2
    """
    from mtp_cli.pipeline import PipelineInterrupted, run_pipeline, summarize_pipeline

    spec = _load(recipe, out, set_values)
    err_console.print(f"pipeline [bold]{recipe}[/] -> {spec.out}", highlight=False)
    try:
        result = run_pipeline(spec, ConsoleReporter(log_every), jobs)
    except PipelineInterrupted as e:
        err_console.print(f"[yellow]interrupted[/]: {e}; rerun the same command to continue", highlight=False)
        return 130
    console.print(steps_table(result))
    console.print(summary_table(summarize_pipeline(spec), spec.eval.ks if spec.eval else []))
    if result.report is not None:
        console.print(f"report: {result.report / 'summary.md'}", highlight=False)
    return 0


@app.command("check")
def check(
    recipe: Path = typer.Argument(..., help="A recipe YAML file.", show_default=False),
    set_values: List[str] = typer.Option([], "--set", metavar="SECTION.KEY=VALUE", help="Override SECTION.KEY=VALUE (repeatable)."),
) -> None:
    """Check a recipe (every key and value) without running anything.

    \b
    Example:
      mtp pipeline check pipelines/gpu-small.yaml
    """
    spec = _load(recipe, None, set_values)
    runs = ", ".join(f"{name} ({spec.run_model(name)})" for name in spec.runs)
    generations = ", ".join(f"{g.name} ({g.config.mode})" for g in spec.generations) or "none"
    console.print(f"{recipe}: valid. runs: {runs}; generations: {generations}; eval: {'yes' if spec.eval else 'no'}", highlight=False)


def steps_table(result) -> Table:
    table = Table(title=f"pipeline steps ({result.out})")
    for column in ("step", "status", "seconds", "detail"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    for record in result.steps:
        seconds = f"{record.seconds:.1f}" if record.status != "skipped" else "-"
        table.add_row(record.step, record.status, seconds, record.detail)
    return table


def _number(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def summary_table(rows, ks: list[int]) -> Table:
    table = Table(title="results", caption="val loss: validation loss of heads 1..n at the end of training")
    columns = ["run", "n", "val loss", "generation", "tok/s", "tok/forward", "speed-up"] + [f"pass@{k}" for k in ks]
    for column in columns:
        table.add_column(column, justify="left" if column in ("run", "generation", "val loss") else "right")
    for row in rows:
        cells = [
            row.run,
            str(row.heads),
            " ".join(f"{loss:.2f}" for loss in row.validation_loss) or "-",
            row.generation or "-",
            _number(row.tokens_per_second, ",.0f"),
            _number(row.tokens_per_forward, ".2f"),
            "-" if row.speedup is None else f"{row.speedup:.2f}x",
        ]
        cells += [_number(100 * row.pass_at_k[f"pass@{k}"] if f"pass@{k}" in row.pass_at_k else None, ".1f") for k in ks]
        table.add_row(*cells)
    return table
