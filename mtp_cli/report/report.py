"""`write_report`: training runs, samples and evaluations in; PNG figures, summary.md and a manifest out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from matplotlib.figure import Figure

from mtp_cli.artifacts import (
    MANIFEST_NAME,
    MtpError,
    atomic_write_text,
    build_manifest,
    load_manifest_file,
    staged_folder,
    write_manifest,
)
from mtp_cli.report import figures
from mtp_cli.report.collect import Collected, collect
from mtp_cli.report.measures import accepted_histogram, accuracy_per_difficulty, is_speculative, pass_at_k, speedups
from mtp_cli.report.summary import SUMMARY_NAME, render_summary


@dataclass
class ReportConfig:
    inputs: list[Path]  # runs, samples files, evaluations, or folders holding them (a pipeline's output)
    out: Path = Path("report")


@dataclass
class ReportResult:
    out: Path
    figures: dict[str, str] = field(default_factory=dict)  # file name -> title
    skipped: dict[str, str] = field(default_factory=dict)  # file name -> why it was not drawn
    files: list[str] = field(default_factory=list)  # everything written, relative to `out`
    read: dict[str, int] = field(default_factory=dict)  # artifacts read, per kind


@dataclass
class FigurePlan:
    name: str
    title: str
    draw: Callable[[], Figure] | None  # None: not drawn
    reason: str = ""  # why not


def plan_figures(c: Collected) -> list[FigurePlan]:
    """Each figure, with its data, or the reason it has none."""
    runs = [r for r in c.runs if r.train]
    spec = [s for s in c.samples if is_speculative(s) and sum(accepted_histogram(s)) > 0]
    pairs = speedups(c.samples)
    evals = [e for e in c.evals if pass_at_k(e)]
    exact = [e for e in c.evals if accuracy_per_difficulty(e)]
    plans = [
        _plan("loss_per_head.png", "Training and validation loss per head", runs, lambda: figures.loss_figure(runs),
              "no training run with metrics among the inputs" if not c.runs else "the training runs have no metrics records yet"),
        _plan("accepted_per_forward.png", "Tokens per verification forward pass", spec, lambda: figures.accepted_figure(spec),
              "no speculative samples among the inputs (mtp generate --mode speculative)"),
        _plan("speedup.png", "Tokens/s, plain vs speculative decoding", pairs, lambda: figures.speedup_figure(pairs),
              "no plain and speculative samples of the same checkpoint, prompts and settings among the inputs"),
        _plan("pass_at_k.png", "pass@k", evals, lambda: figures.pass_at_k_figure(evals),
              "no evaluation among the inputs (mtp eval pass@k)" if not c.evals else "the evaluations have no pass@k score"),
    ]
    if exact:  # only synthetic-task reports have one; a code report does not list it as missing
        plans.append(_plan("accuracy.png", "Exact-match accuracy per difficulty", exact, lambda: figures.accuracy_figure(exact), ""))
    return plans


def _plan(name: str, title: str, data: list, draw: Callable[[], Figure], reason: str) -> FigurePlan:
    return FigurePlan(name, title, draw if data else None, "" if data else reason)


def write_report(config: ReportConfig) -> ReportResult:
    """Read every artifact under `config.inputs` and write the report folder at `config.out`.

    The folder is built beside `out` and renamed into place; an earlier report there is replaced,
    anything else that is not empty is refused.
    """
    inputs, out = [Path(p) for p in config.inputs], Path(config.out)
    _check_out(out)
    collected = collect(inputs)
    plans = plan_figures(collected)
    result = ReportResult(out, read={"runs": len(collected.runs), "samples": len(collected.samples), "evals": len(collected.evals)})
    with staged_folder(out, overwrite=True) as folder:
        for plan in plans:
            if plan.draw is None:
                result.skipped[plan.name] = plan.reason
                continue
            figures.save_png(plan.draw(), folder / plan.name)
            result.figures[plan.name] = plan.title
        atomic_write_text(folder / SUMMARY_NAME, render_summary(collected, result.figures, result.skipped))
        result.files = [*result.figures, SUMMARY_NAME, MANIFEST_NAME]
        manifest = build_manifest(
            "report",
            arguments={"inputs": inputs, "out": out},
            inputs=collected.inputs(),
            figures=result.figures,
            skipped=result.skipped,
            files=result.files,
        )
        write_manifest(folder, manifest)
    return result


def _check_out(out: Path) -> None:
    """A report replaces an earlier report, never another artifact (staged_folder refuses the rest)."""
    path = out / MANIFEST_NAME
    if out.is_dir() and path.is_file():
        kind = load_manifest_file(path)["kind"]
        if kind != "report":
            raise MtpError(f"--out {out} holds a '{kind}' artifact, not a report", "choose another --out folder")
