"""The pipeline's final table, read back from the artifacts (so a run that skipped every step shows it too).

One row per (run, generation): heads, validation loss per head, decoding speed, tokens per forward,
the speed-up of speculative over greedy decoding of the same run and prompts, and pass@k.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtp_cli.artifacts import EVAL_SUMMARY_NAME, MANIFEST_NAME, sidecar_path
from mtp_cli.pipeline.spec import PipelineSpec


@dataclass
class SummaryRow:
    run: str
    heads: int
    validation_loss: list[float]  # per head, at the end of training
    generation: str | None = None
    mode: str | None = None
    tokens_per_second: float | None = None
    tokens_per_forward: float | None = None
    speedup: float | None = None  # speculative tokens/s over greedy tokens/s, same run and prompts
    pass_at_k: dict[str, float] = field(default_factory=dict)


def _read(path: Path) -> dict[str, Any] | None:
    """A JSON artifact, or None where its step did not run (not applicable, or failed)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _speedups(spec: PipelineSpec, run: str, names: list[str]) -> dict[str, float]:
    """Speculative tokens/s over plain decoding's, paired by `mtp report`'s rule (same checkpoint,
    prompts, sampling settings, device and batch size), so the table and the report agree."""
    from mtp_cli.report.collect import read_samples_set
    from mtp_cli.report.measures import speedups

    sets = {}
    for name in names:
        path = spec.samples_file(run, name)
        sets[name] = read_samples_set(path, json.loads(sidecar_path(path).read_text()))
    by_path = {pair.speculative.path: pair.ratio for pair in speedups(list(sets.values()))}
    return {name: by_path[s.path] for name, s in sets.items() if s.path in by_path}


def summarize_pipeline(spec: PipelineSpec) -> list[SummaryRow]:
    rows = []
    for run, config in spec.runs.items():
        manifest = _read(spec.run_folder(run) / MANIFEST_NAME) or {}
        heads = manifest.get("model", {}).get("n_future_tokens", config.heads)
        loss = (manifest.get("last_validation") or {}).get("head_loss", [])
        samples = {}
        for generation in spec.generations:
            found = _read(sidecar_path(spec.samples_file(run, generation.name)))
            if found is not None:
                samples[generation.name] = found["totals"]
        speedups = _speedups(spec, run, list(samples))
        if not samples:
            rows.append(SummaryRow(run, heads, loss))
        for generation in spec.generations:
            if generation.name not in samples:
                continue
            totals = samples[generation.name]
            evaluated = _read(spec.eval_folder(run, generation.name) / EVAL_SUMMARY_NAME) or {}
            rows.append(
                SummaryRow(
                    run, heads, loss, generation.name, generation.config.mode, totals["tokens_per_second"],
                    totals["tokens_per_forward"], speedups.get(generation.name), evaluated.get("pass_at_k", {}),
                )
            )
    return rows
