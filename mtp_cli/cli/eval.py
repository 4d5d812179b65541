"""`mtp eval pass@k`: parse options, run `evaluate`, show pass@k and outcomes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from mtp_cli.artifacts import MtpError, is_mtp_artifact
from mtp_cli.cli.usage import help_when_bare
from mtp_cli.cli.console import console, log_every_option, progress_display
from mtp_cli.cli.declared import build_command
from mtp_cli.eval.config import EvalConfig
from mtp_cli.eval.exact import ExactConfig
from mtp_cli.eval.sandbox import SandboxConfig

app = typer.Typer(help="Measure samples: pass@k of code in a sandbox, or exact-match accuracy.", rich_markup_mode=None)
app.callback(invoke_without_command=True)(help_when_bare)


def default_out(samples: Optional[Path], dataset: str) -> Path:
    """Beside the samples file (or beside the artifact folder holding it), never inside an artifact."""
    if samples is None:
        return Path(f"eval-{dataset}-reference")
    folder = samples if samples.is_dir() else samples.parent
    if samples.is_dir() or is_mtp_artifact(folder):
        return folder.with_name(f"{folder.name}.eval-{dataset}")
    return samples.with_name(f"{samples.stem}.eval-{dataset}")


def run_pass_at_k(given: dict[str, dict[str, Any]], log_every: float) -> None:
    from mtp_cli.eval import evaluate
    from mtp_cli.problems import problem_set

    options = given["config"]
    dataset, problems, samples = options.get("dataset"), options.get("problems"), options.get("samples")
    info = problem_set(dataset, problems).info
    sandbox = {"timeout": info.default_timeout, **given["sandbox"]}
    if sandbox["timeout"] <= 0:
        raise MtpError(f"--timeout must be positive (got {sandbox['timeout']})")
    cfg = EvalConfig(**{
        "dataset": dataset,
        "out": default_out(samples, dataset or Path(problems).stem),
        "ks": [1] if options.get("reference") else [1, 10, 100],
        **options,
        "sandbox": SandboxConfig(**sandbox),
    })
    with progress_display(log_every) as progress:
        summary = evaluate(cfg, progress)
    console.print(summary_table(summary))
    console.print(run_line(summary, cfg.out), highlight=False)
    for note in summary["notes"]:
        console.print(f"[yellow]note:[/] {note}", highlight=False)


app.command("pass@k")(build_command(
    "pass_at_k",
    {"config": EvalConfig, "sandbox": SandboxConfig},
    run_pass_at_k,
    """pass@k of code samples on HumanEval, MBPP or your own problem file; every test program runs in its own sandbox.

    \b
    Example:
      mtp eval pass@k samples/he-greedy.jsonl --dataset humaneval --k 1
    """,
    [log_every_option()],
))


def two_column_table(title: str, key: str, value: str) -> Table:
    """A table of names (first column) and right-aligned figures, as every eval result is shown."""
    table = Table(title=title)
    table.add_column(key, style="cyan")
    table.add_column(value, justify="right")
    return table


def run_exact(given: dict[str, dict[str, Any]]) -> None:
    from mtp_cli.eval.exact import evaluate_exact

    config = ExactConfig(**given["config"])
    summary = evaluate_exact(config)
    table = two_column_table(f"{config.samples}: exact match", "difficulty", "accuracy")
    for difficulty, accuracy in summary["accuracy_per_difficulty"].items():
        table.add_row(difficulty, f"{100 * accuracy:.1f}%")
    table.add_row("all", f"{100 * summary['accuracy']:.1f}%")
    for name in ("in_domain", "out_of_domain"):
        if summary.get(f"accuracy_{name}") is not None:
            table.add_row(name.replace("_", " "), f"{100 * summary[f'accuracy_{name}']:.1f}%")
    console.print(table)


app.command("exact")(build_command(
    "exact",
    {"config": ExactConfig},
    run_exact,
    """Exact-match accuracy per difficulty: the answer is the completion's first line.

    Example: mtp eval exact poly.jsonl --problems data/poly-text/test.jsonl --out eval/poly
    """,
))


def summary_table(summary: dict) -> Table:
    data = summary["dataset"]
    what = "reference solutions" if summary["reference"] else "samples"
    table = two_column_table(f"{data['name']} ({data['split']} split, {data['prompt_format']}): {what}", "measure", "value")
    for name, score in summary["pass_at_k"].items():
        table.add_row(name, f"{100 * score:.2f}%")
    table.add_row("problems with samples", f"{summary['problems_with_samples']} / {summary['problems']}")
    table.add_row("samples", f"{summary['samples']:,}")
    for kind, count in summary["outcomes"].items():
        table.add_row(f"  {kind}", f"{count:,}")
    for failure, count in list(summary["failure_types"].items())[:5]:
        table.add_row(f"    failed: {failure}", f"{count:,}")
    return table


def run_line(summary: dict, out: Path) -> str:
    run = summary["run"]
    rate = f"{run['programs_per_second']:,} programs/s" if run["programs_per_second"] else "nothing to run"
    reused = f", {summary['reused_results']:,} results reused" if summary["reused_results"] else ""
    return (
        f"{run['programs']:,} programs in {run['seconds']:.1f}s ({rate}, {run['workers']} workers, "
        f"timeout {summary['sandbox']['timeout']:g}s){reused}; written to {out}"
    )
