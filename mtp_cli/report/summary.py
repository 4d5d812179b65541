"""`summary.md`: the figures, embedded by relative links, and the numbers behind them as tables."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from mtp_cli.report.collect import Collected, SamplesSet, TrainingRun
from mtp_cli.report.measures import (
    accepted_histogram,
    accuracy_per_difficulty,
    draft_heads,
    final_loss,
    is_speculative,
    k_values,
    pass_at_k,
    speedups,
    totals,
)

SUMMARY_NAME = "summary.md"
NUMBER = re.compile(r"^(×?[-+]?[\d.,]+(e[-+]?\d+)?[%kMB]?|-|)$")  # what reads best right-aligned


def render_summary(collected: Collected, figures: dict[str, str], skipped: dict[str, str]) -> str:
    """Markdown for the report folder; `figures` maps file names drawn to titles, `skipped` to reasons."""
    lines = ["# mtp report", "", _inputs_line(collected), ""]
    if collected.runs:
        lines += ["## Training", ""] + _figure("loss_per_head.png", figures) + _loss_tables(collected.runs)
    speculative = [s for s in collected.samples if is_speculative(s)]
    if collected.samples:
        lines += ["## Generation", ""] + _figure("accepted_per_forward.png", figures) + _samples_table(collected.samples)
        lines += _figure("speedup.png", figures) + _speedup_table(collected.samples)
        if not speculative:
            lines += ["No speculative samples: tokens per forward pass is 1 by construction.", ""]
    if any(not accuracy_per_difficulty(e) for e in collected.evals):
        lines += ["## pass@k", ""] + _figure("pass_at_k.png", figures) + _pass_at_k_table(collected)
    if any(accuracy_per_difficulty(e) for e in collected.evals):
        lines += ["## Exact-match accuracy", ""] + _figure("accuracy.png", figures) + _accuracy_table(collected)
    if skipped:
        lines += ["## Figures not drawn", ""] + [f"- `{name}`: {reason}." for name, reason in skipped.items()] + [""]
    return "\n".join(lines)


def _inputs_line(c: Collected) -> str:
    parts = [plural(len(c.runs), "training run"), plural(len(c.samples), "samples file"), plural(len(c.evals), "evaluation")]
    return f"Read {', '.join(parts)}; `manifest.json` lists their paths and hashes."


def _figure(name: str, figures: dict[str, str]) -> list[str]:
    return [f"![{figures[name]}]({name})", ""] if name in figures else []


# ---------------------------------------------------------------- tables


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    align = ["---:" if rows and all(_numeric(row[i]) for row in rows) else "---" for i in range(len(header))]
    lines = [_row(header), _row(align)] + [_row(row) for row in rows]
    return lines + [""]


def _numeric(cell: Any) -> bool:
    return bool(NUMBER.match(str(cell)))


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def _loss_tables(runs: list[TrainingRun]) -> list[str]:
    heads = max(run.heads for run in runs)
    header = ["run", "n", "status", "steps", "tokens", "loss"] + [f"head {h + 1}" for h in range(heads)]
    rows = []
    for run in runs:
        m = run.manifest
        for split, records in (("train", run.train), ("validation", run.evals)):
            losses = final_loss(records)
            if losses is None:
                continue
            cells = [_loss(v) for v in losses] + [""] * (heads - len(losses))
            rows.append([run.label, run.heads, m.get("status", "?"), m.get("step", "?"), _count(m.get("tokens_seen")), f"final {split}"] + cells)
    if not rows:
        return ["The runs have no metrics records yet.", ""]
    return ["Last logged loss per head (head k predicts the token k steps ahead; nats):", ""] + table(header, rows)


def _samples_table(sets: list[SamplesSet]) -> list[str]:
    header = ["samples file", "checkpoint", "mode", "draft heads", "samples", "new tokens", "tokens/forward", "acceptance per draft head", "tokens/s"]
    rows = []
    for s in sets:
        t = totals(s)
        acceptance = " / ".join(f"{100 * a:.0f}%" for a in t.get("acceptance_per_head", [])) or "-"
        rows.append([s.label, s.checkpoint_label, s.mode, draft_heads(s) or "-", len(s.records), _count(t.get("new_tokens")),
                     _fixed(t.get("tokens_per_forward"), 2), acceptance, _fixed(t.get("tokens_per_second"), 1)])
    note = ("tokens/forward: new tokens over all forward passes, the prompt's included. Acceptance of draft head j: share of "
            "verification steps that accepted its token (which needs the drafts before it accepted too).")
    return table(header, rows) + [note, ""] + _histogram_lines(sets)


def _histogram_lines(sets: list[SamplesSet]) -> list[str]:
    spec = [s for s in sets if is_speculative(s)]
    if not spec:
        return []
    most = max(draft_heads(s) for s in spec) + 1
    header = ["samples", "verification steps"] + [f"{m} token{'s' * (m > 1)}" for m in range(1, most + 1)]
    rows = []
    for s in spec:
        counts = accepted_histogram(s)
        steps = max(sum(counts), 1)
        rows.append([s.label, sum(counts)] + [f"{100 * c / steps:.1f}%" for c in counts] + [""] * (most - len(counts)))
    return ["Tokens produced per verification forward pass:", ""] + table(header, rows)


def _speedup_table(sets: list[SamplesSet]) -> list[str]:
    pairs = speedups(sets)
    if not pairs:
        return []
    header = ["checkpoint", "plain", "tokens/s", "speculative", "tokens/s", "speed-up"]
    rows = [[p.speculative.checkpoint_label, p.baseline.label, _fixed(totals(p.baseline).get("tokens_per_second"), 1),
             p.speculative.label, _fixed(totals(p.speculative).get("tokens_per_second"), 1), f"×{p.ratio:.2f}"] for p in pairs]
    note = "Paired when checkpoint, prompts, sampling settings, device, batch size and samples per prompt match."
    return table(header, rows) + [note, ""]


def _pass_at_k_table(c: Collected) -> list[str]:
    ks = k_values(c.evals)
    header = ["evaluation", "dataset", "samples", "mode", "problems with samples", "samples scored"] + ks
    rows = []
    for e in (e for e in c.evals if not accuracy_per_difficulty(e)):
        s, scores = e.summary, pass_at_k(e)
        source = "reference solutions" if s.get("reference") else (e.samples.label if e.samples else _input_name(e.manifest))
        mode = e.samples.mode if e.samples else "-"
        problems = f"{s.get('problems_with_samples', '?')} / {s.get('problems', '?')}"
        rows.append([e.label, (s.get("dataset") or {}).get("name", "?"), source, mode, problems, s.get("samples", "?")]
                    + [f"{100 * scores[k]:.2f}%" if k in scores else "-" for k in ks])
    notes = [f"- {e.label}: {note}" for e in c.evals for note in e.summary.get("notes", [])]
    return table(header, rows) + (notes + [""] if notes else [])


def _accuracy_table(c: Collected) -> list[str]:
    evals = [e for e in c.evals if accuracy_per_difficulty(e)]
    difficulties = list(dict.fromkeys(k for e in evals for k in accuracy_per_difficulty(e) if k != "None"))  # None: items without one
    domains = ["accuracy_in_domain", "accuracy_out_of_domain"] if any(e.summary.get("in_domain_up_to") is not None for e in evals) else []
    header = ["evaluation", "samples", "mode", *[f"m={d}" for d in difficulties], "all", *[d.removeprefix("accuracy_").replace("_", " ") for d in domains]]
    rows = []
    for e in evals:
        accuracy, s = accuracy_per_difficulty(e), e.summary
        source = e.samples.label if e.samples else _input_name(e.manifest)
        rows.append([e.label, source, e.samples.mode if e.samples else "-", *[_percent(accuracy.get(d)) for d in difficulties],
                     _percent(s.get("accuracy")), *[_percent(s.get(d)) for d in domains]])
    return table(header, rows) + ["Exact match of the completion's first line (prefix match where the problems say so).", ""]


def _percent(value: Any) -> str:
    return f"{100 * value:.1f}%" if isinstance(value, (int, float)) else "-"


def _input_name(manifest: dict[str, Any]) -> str:
    paths = [i.get("path") for i in manifest.get("inputs", []) if i.get("role") != "dataset" and i.get("path")]
    return Path(paths[0]).name if paths else "?"


# ---------------------------------------------------------------- numbers


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def _loss(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) else str(value)


def _fixed(value: Any, digits: int) -> str:
    return f"{value:,.{digits}f}" if isinstance(value, (int, float)) else "-"


def _count(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return str(int(value))
