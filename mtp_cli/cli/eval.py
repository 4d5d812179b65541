"""`mtp eval pass@k`: parse options, run `evaluate`, show pass@k and outcomes."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from mtp_cli.artifacts import MtpError, is_mtp_artifact
from mtp_cli.cli.usage import help_when_bare
from mtp_cli.cli.console import RichProgress, console

app = typer.Typer(help="Measure samples: pass@k of code in a sandbox, or exact-match accuracy.", rich_markup_mode=None)
app.callback(invoke_without_command=True)(help_when_bare)


def parse_ks(text: str) -> list[int]:
    try:
        ks = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise MtpError(f"--k {text!r} is not a list of integers", "e.g. --k 1,10,100") from None
    if not ks or any(k < 1 for k in ks):
        raise MtpError(f"--k {text!r} must list positive integers", "e.g. --k 1,10,100")
    return ks


def default_out(samples: Optional[Path], dataset: str) -> Path:
    """Beside the samples file (or beside the artifact folder holding it), never inside an artifact."""
    if samples is None:
        return Path(f"eval-{dataset}-reference")
    folder = samples if samples.is_dir() else samples.parent
    if samples.is_dir() or is_mtp_artifact(folder):
        return folder.with_name(f"{folder.name}.eval-{dataset}")
    return samples.with_name(f"{samples.stem}.eval-{dataset}")


@app.command("pass@k")
def pass_at_k(
    samples: Optional[Path] = typer.Argument(
        None, help="Samples JSONL (task_id, completion per line), as `mtp generate` writes it, or a folder holding a samples.jsonl; none with --reference.", show_default=False
    ),
    dataset: str = typer.Option(..., "--dataset", "-d", help="humaneval (164 problems) or mbpp (test split, task ids 11-510)."),
    k: Optional[str] = typer.Option(
        None, "--k", help="Comma-separated k values; a k above some problem's sample count is noted, not computed. [default: 1,10,100; 1 with --reference]"
    ),
    workers: int = typer.Option(0, help="Programs run at once (0: one per core)."),
    timeout: Optional[float] = typer.Option(
        None, help="CPU seconds per program, all its processes together; one idle (sleeping, blocked) for twice that is stopped. [default: humaneval 3, mbpp 10]"
    ),
    memory_mb: int = typer.Option(2048, help="Address-space limit per program, MiB."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder. [default: beside the samples, NAME.eval-DATASET]"),
    resume: bool = typer.Option(False, help="Reuse results already in --out for the same samples and settings."),
    overwrite: bool = typer.Option(False, help="Replace an existing evaluation at --out."),
    reference: bool = typer.Option(False, help="Run the dataset's own solutions instead of samples (the harness self-check)."),
) -> None:
    """pass@k of code samples on HumanEval or MBPP; every test program runs in its own sandbox.

    \b
    Example:
      mtp eval pass@k samples/he-greedy.jsonl --dataset humaneval --k 1
    """
    from mtp_cli.eval import EvalConfig, SandboxConfig, evaluate
    from mtp_cli.problems import dataset_info

    info = dataset_info(dataset)
    if timeout is not None and timeout <= 0:
        raise MtpError(f"--timeout must be positive (got {timeout})")
    cfg = EvalConfig(
        dataset=dataset,
        out=out or default_out(samples, dataset),
        samples=samples,
        reference=reference,
        ks=parse_ks(k or ("1" if reference else "1,10,100")),
        workers=workers,
        sandbox=SandboxConfig(timeout=timeout or info.default_timeout, memory_mb=memory_mb),
        resume=resume,
        overwrite=overwrite,
    )
    with RichProgress() as progress:
        summary = evaluate(cfg, progress)
    console.print(summary_table(summary))
    console.print(run_line(summary, cfg.out), highlight=False)
    for note in summary["notes"]:
        console.print(f"[yellow]note:[/] {note}", highlight=False)


@app.command("exact")
def exact(
    samples: Path = typer.Argument(..., help="Samples JSONL written by mtp generate --prompts PROBLEMS."),
    problems: Path = typer.Option(..., "--problems", help="The problems JSONL ({task_id, prompt, answer}), e.g. mtp synth's test.jsonl."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: results.jsonl, summary.json, manifest.json."),
    in_domain_up_to: Optional[int] = typer.Option(None, help="Difficulties up to this were trained on [default: from the problems' synth manifest]."),
    overwrite: bool = typer.Option(False, help="Replace an existing evaluation at --out."),
) -> None:
    """Exact-match accuracy per difficulty: the answer is the completion's first line.

    Example: mtp eval exact poly.jsonl --problems data/poly-text/test.jsonl --out eval/poly
    """
    from mtp_cli.eval.exact import ExactConfig, evaluate_exact

    summary = evaluate_exact(ExactConfig(samples, problems, out, in_domain_up_to, overwrite))
    table = Table(title=f"{samples}: exact match")
    table.add_column("difficulty", style="cyan")
    table.add_column("accuracy", justify="right")
    for difficulty, accuracy in summary["accuracy_per_difficulty"].items():
        table.add_row(difficulty, f"{100 * accuracy:.1f}%")
    table.add_row("all", f"{100 * summary['accuracy']:.1f}%")
    for name in ("in_domain", "out_of_domain"):
        if summary.get(f"accuracy_{name}") is not None:
            table.add_row(name.replace("_", " "), f"{100 * summary[f'accuracy_{name}']:.1f}%")
    console.print(table)


def summary_table(summary: dict) -> Table:
    data = summary["dataset"]
    what = "reference solutions" if summary["reference"] else "samples"
    table = Table(title=f"{data['name']} ({data['split']} split, {data['prompt_format']}): {what}")
    table.add_column("measure", style="cyan")
    table.add_column("value", justify="right")
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
