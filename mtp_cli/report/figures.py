"""The report's figures, one function each: data in, a matplotlib Figure out.

Figures are built with `matplotlib.figure.Figure` directly, not pyplot: no global figure registry,
no backend switch (savefig renders PNGs with Agg), nothing to close, safe beside any other user of
matplotlib in the process.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import EngFormatter, PercentFormatter

from mtp_cli.report.collect import Evaluation, SamplesSet, TrainingRun
from mtp_cli.report.measures import (
    Speedup,
    accepted_histogram,
    accuracy_per_difficulty,
    k_values,
    pass_at_k,
    totals,
    train_curve,
    validation_curve,
)

LINE_STYLES = ["-", "--", ":", "-."]
DPI = 120


def color(i: int) -> str:
    return f"C{i % 10}"


def save_png(fig: Figure, path: Path) -> None:
    """Write the figure to `path` whole or not at all: a temporary name, then one rename."""
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        fig.savefig(tmp, format="png", dpi=DPI)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def smooth(xs: list[float], ys: list[float], points: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """A trailing moving average over ~1/points of the curve: per-step training loss is noisy."""
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    window = max(1, len(y) // points)
    if window == 1:
        return x, y
    kernel = np.ones(window) / window
    return x[window - 1 :], np.convolve(y, kernel, mode="valid")


# ---------------------------------------------------------------- training


def loss_figure(runs: list[TrainingRun]) -> Figure:
    """Training and validation loss per head against tokens seen: one color per run, one line style per head."""
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    train_ax, val_ax = fig.subplots(1, 2, sharey=True)
    for i, run in enumerate(runs):
        curve = train_curve(run)
        for h, losses in enumerate(curve.head_loss):
            train_ax.plot(*smooth(curve.tokens, losses), color=color(i), linestyle=LINE_STYLES[h % 4], linewidth=1.2)
        curve = validation_curve(run)
        for h, losses in enumerate(curve.head_loss):
            val_ax.plot(curve.tokens, losses, color=color(i), linestyle=LINE_STYLES[h % 4], marker="o", markersize=3)
    train_ax.set_title("Training loss per head (moving average)")
    val_ax.set_title("Validation loss per head")
    if not any(run.evals for run in runs):
        val_ax.text(0.5, 0.5, "no validation records", ha="center", va="center", transform=val_ax.transAxes)
    for ax in (train_ax, val_ax):
        ax.set_xlabel("tokens seen")
        ax.xaxis.set_major_formatter(EngFormatter())
        ax.grid(alpha=0.3)
    train_ax.set_ylabel("cross-entropy (nats)")
    fig.legend(handles=_loss_legend(runs), loc="outside right upper", fontsize="small")
    return fig


def _loss_legend(runs: list[TrainingRun]) -> list[Line2D]:
    handles = [Line2D([], [], color=color(i), label=f"{run.label} (n={run.heads})") for i, run in enumerate(runs)]
    heads = max(run.heads for run in runs)
    if heads > 1:
        names = ["head 1 (next token)"] + [f"head {h + 1} (token t+{h + 1})" for h in range(1, heads)]
        handles += [Line2D([], [], color="0.35", linestyle=LINE_STYLES[h % 4], label=names[h]) for h in range(heads)]
    return handles


def legend_labels(fig: Figure) -> list[str]:
    return [text.get_text() for legend in fig.legends for text in legend.get_texts()]


# ---------------------------------------------------------------- speculative decoding


def accepted_figure(sets: list[SamplesSet]) -> Figure:
    """Share of verification forward passes that produced 1, 2, ... tokens, per speculative samples set."""
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    histograms = [accepted_histogram(s) for s in sets]
    most = max(len(h) for h in histograms)
    width = 0.8 / len(sets)
    for i, (samples, counts) in enumerate(zip(sets, histograms)):
        steps = max(sum(counts), 1)
        mean = sum((m + 1) * c for m, c in enumerate(counts)) / steps
        x = np.arange(1, len(counts) + 1) + (i - (len(sets) - 1) / 2) * width
        overall = totals(samples).get("tokens_per_forward")
        overall_text = f"{overall:.2f} tokens per forward pass, the prompt's included; " if overall is not None else ""
        label = f"{samples.label}: {overall_text}{mean:.2f} per verification pass"
        ax.bar(x, [c / steps for c in counts], width=width, color=color(i), label=label)
    ax.set_xticks(range(1, most + 1))
    ax.set_xlabel("tokens produced by one verification forward pass (1 + drafts accepted)")
    ax.set_ylabel("share of forward passes")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_title("Self-speculative decoding: tokens per forward pass")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def speedup_figure(pairs: list[Speedup]) -> Figure:
    """Tokens/s of plain and speculative decoding of the same checkpoint and prompts, with the ratio."""
    fig = Figure(figsize=(max(6, 1.6 * len(pairs) + 3), 4.5), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(pairs))
    base = [totals(p.baseline).get("tokens_per_second", 0) for p in pairs]
    spec = [totals(p.speculative).get("tokens_per_second", 0) for p in pairs]
    ax.bar(x - 0.2, base, width=0.4, color=color(0), label="one token per forward (" + "/".join(sorted({p.baseline.mode for p in pairs})) + ")")
    bars = ax.bar(x + 0.2, spec, width=0.4, color=color(1), label="speculative")
    ax.bar_label(bars, labels=[f"×{p.ratio:.2f}" for p in pairs], padding=2)
    ax.set_xticks(x, [f"{p.speculative.checkpoint_label}\n{p.speculative.label}" for p in pairs], rotation=20 if len(pairs) > 3 else 0)
    ax.set_ylabel("new tokens per second")
    ax.set_title("Decoding speed: plain vs self-speculative")
    ax.margins(y=0.15)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


# ---------------------------------------------------------------- pass@k


def pass_at_k_figure(evals: list[Evaluation]) -> Figure:
    """pass@k bars: one group per k, one bar per evaluation."""
    ks = k_values(evals)
    fig = Figure(figsize=(max(6, 1.2 * len(ks) * len(evals) + 3), 4.5), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(evals)
    for i, evaluation in enumerate(evals):
        scores = pass_at_k(evaluation)
        x = np.arange(len(ks)) + (i - (len(evals) - 1) / 2) * width
        values = [scores.get(k, np.nan) for k in ks]
        dataset = (evaluation.summary.get("dataset") or {}).get("name", "")
        bars = ax.bar(x, values, width=width, color=color(i), label=f"{evaluation.label} ({dataset})".replace(" ()", ""))
        ax.bar_label(bars, labels=["" if np.isnan(v) else f"{100 * v:.1f}%" for v in values], padding=2, fontsize="small")
    ax.set_xticks(range(len(ks)), ks)
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("problems solved")
    ax.set_title("pass@k")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


# ---------------------------------------------------------------- exact-match accuracy


def accuracy_figure(evals: list[Evaluation]) -> Figure:
    """Accuracy against difficulty (e.g. operations per polynomial problem), one line per evaluation;
    a dashed line where the training domain ends."""
    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.subplots()
    if not any(k != "None" for e in evals for k in accuracy_per_difficulty(e)):
        return _accuracy_bars(fig, ax, evals)  # items without difficulties (induction): one bar each
    for i, evaluation in enumerate(evals):
        accuracy = accuracy_per_difficulty(evaluation)
        keys = [k for k in accuracy if k != "None"]
        xs = [int(k) for k in keys] if all(k.lstrip("-").isdigit() for k in keys) else list(range(len(keys)))
        ax.plot(xs, [accuracy[k] for k in keys], marker="o", color=color(i), label=evaluation.label)
    edges = {e.summary.get("in_domain_up_to") for e in evals} - {None}
    for edge in edges:
        ax.axvline(edge + 0.5, color="grey", linestyle="--", linewidth=1)
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("difficulty (operations)" + ("; dashed: end of the training domain" if edges else ""))
    ax.set_ylabel("exact-match accuracy")
    ax.set_title("Accuracy per difficulty")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def _accuracy_bars(fig: Figure, ax: Any, evals: list[Evaluation]) -> Figure:
    labels = [e.label for e in evals]
    values = [float(e.summary.get("accuracy") or 0.0) for e in evals]
    bars = ax.bar(range(len(evals)), values, color=[color(i) for i in range(len(evals))])
    ax.bar_label(bars, labels=[f"{100 * v:.1f}%" for v in values], fontsize="small")
    ax.set_xticks(range(len(evals)), labels, rotation=20, ha="right", fontsize="small")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, min(1.05, max(values + [0.01]) * 1.25))
    ax.set_ylabel("exact-match accuracy")
    ax.set_title("Accuracy per evaluation")
    ax.grid(alpha=0.3, axis="y")
    return fig
