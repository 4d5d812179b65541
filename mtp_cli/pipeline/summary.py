"""The pipeline's final table, read back from the artifacts (so a run that skipped every step shows it too).

One row per (run, generation): heads, validation loss per head, decoding speed, tokens per forward,
the speed-up of speculative over greedy decoding of the same run and prompts, and pass@k.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtp_cli.artifacts import MANIFEST_NAME
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


def _prompt_source(config: Any) -> tuple:
    return (config.dataset, str(config.prompts), config.prompt, config.max_new_tokens, config.limit)


def _speedup(spec: PipelineSpec, run: str, samples: dict[str, dict]) -> dict[str, float]:
    """For each speculative generation: its tokens/s over a greedy generation's on the same prompts."""
    by_name = {g.name: g for g in spec.generations}
    greedy = {_prompt_source(g.config): name for name, g in by_name.items() if g.config.mode == "greedy" and name in samples}
    speedups = {}
    for name, totals in samples.items():
        generation = by_name[name]
        baseline = greedy.get(_prompt_source(generation.config))
        if generation.speculative and baseline is not None:
            speedups[name] = totals["tokens_per_second"] / max(samples[baseline]["tokens_per_second"], 1e-9)
    return speedups


def summarize_pipeline(spec: PipelineSpec) -> list[SummaryRow]:
    from mtp_cli.generate.output import manifest_path

    rows = []
    for run, config in spec.runs.items():
        manifest = _read(spec.run_folder(run) / MANIFEST_NAME) or {}
        heads = manifest.get("model", {}).get("n_future_tokens", config.heads)
        loss = (manifest.get("last_validation") or {}).get("head_loss", [])
        samples = {}
        for generation in spec.generations:
            found = _read(manifest_path(spec.samples_file(run, generation.name)))
            if found is not None:
                samples[generation.name] = found["totals"]
        speedups = _speedup(spec, run, samples)
        if not samples:
            rows.append(SummaryRow(run, heads, loss))
        for generation in spec.generations:
            if generation.name not in samples:
                continue
            totals = samples[generation.name]
            evaluated = _read(spec.eval_folder(run, generation.name) / "summary.json") or {}
            rows.append(
                SummaryRow(
                    run, heads, loss, generation.name, generation.config.mode, totals["tokens_per_second"],
                    totals["tokens_per_forward"], speedups.get(generation.name), evaluated.get("pass_at_k", {}),
                )
            )
    return rows
