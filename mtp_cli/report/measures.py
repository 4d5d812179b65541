"""The numbers a report shows, computed once for both the figures and summary.md."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mtp_cli.report.collect import Evaluation, SamplesSet, TrainingRun, number


@dataclass
class Curve:
    tokens: list[float]  # tokens seen by the model at each point
    head_loss: list[list[float]]  # [head][point]


def train_curve(run: TrainingRun) -> Curve:
    return _curve([(number(r.get("tokens")), r["head_loss"]) for r in run.train], run.heads)


def validation_curve(run: TrainingRun) -> Curve:
    """Eval records carry the step, not the tokens seen by then: look those up in the train records."""
    seen = {r["step"]: number(r.get("tokens")) for r in run.train if "step" in r}
    per_step = number((run.manifest.get("plan") or {}).get("tokens_per_step"))
    points = [(seen.get(r.get("step"), number(r.get("step")) * per_step), r["head_loss"]) for r in run.evals]
    return _curve(points, run.heads)


def _curve(points: list[tuple[float, list[Any]]], heads: int) -> Curve:
    return Curve([x for x, _ in points], [[number(loss[h]) if h < len(loss) else float("nan") for _, loss in points] for h in range(heads)])


def final_loss(records: list[dict[str, Any]]) -> list[float] | None:
    return [number(v) for v in records[-1]["head_loss"]] if records else None


# ---------------------------------------------------------------- speculative decoding


def is_speculative(samples: SamplesSet) -> bool:
    return samples.mode == "speculative"


def draft_heads(samples: SamplesSet) -> int:
    return int(samples.manifest.get("draft_heads") or 0)


def accepted_histogram(samples: SamplesSet) -> list[int]:
    """counts[m]: verification forward passes that produced m + 1 tokens (m drafts accepted).

    A draft is accepted only when the drafts before it were, so per sample `accepted_per_head[j]`
    counts the steps that accepted more than j drafts, and the differences of that cumulative count
    give the exact distribution. The prefill forward (one token) is not a verification step.
    """
    k = draft_heads(samples)
    counts = [0] * (k + 1)
    for record in samples.records:
        accepted = list(record.get("accepted_per_head") or [0] * k)[:k]
        steps = record.get("verify_steps", int(record.get("forward_passes", 1)) - 1)
        at_least = [int(steps), *map(int, accepted), 0]  # at_least[m]: steps accepting >= m drafts
        for m in range(k + 1):
            counts[m] += at_least[m] - at_least[m + 1]
    return counts


def totals(samples: SamplesSet) -> dict[str, Any]:
    return samples.manifest.get("totals") or {}


@dataclass
class Speedup:
    baseline: SamplesSet  # greedy (or sample) decoding of the same checkpoint and prompts
    speculative: SamplesSet

    @property
    def ratio(self) -> float:
        base = number(totals(self.baseline).get("tokens_per_second"))
        return number(totals(self.speculative).get("tokens_per_second")) / base if base > 0 else float("nan")


def _comparison_key(samples: SamplesSet) -> str:
    """Speeds compare when only the decoding mode differs: same weights, prompts, sampling settings,
    stops and lengths, device, threads and batch size."""
    m, args = samples.manifest, samples.manifest.get("arguments") or {}
    prompts = (m.get("inputs") or [{}, {}])[1:2]
    key = [samples.checkpoint.get("sha256"), prompts, m.get("sampling"), m.get("device"), m.get("threads"), m.get("stop_sequences"),
           args.get("batch_size"), args.get("num_samples"), args.get("max_new_tokens"), bool(args.get("fixed_length"))]
    return json.dumps(key, sort_keys=True)


def speedups(sets: list[SamplesSet]) -> list[Speedup]:
    baselines: dict[str, SamplesSet] = {}
    for s in sets:
        if not is_speculative(s):
            baselines.setdefault(_comparison_key(s), s)
    return [Speedup(baselines[_comparison_key(s)], s) for s in sets if is_speculative(s) and _comparison_key(s) in baselines]


# ---------------------------------------------------------------- pass@k


def pass_at_k(evaluation: Evaluation) -> dict[str, float]:
    return {k: number(v) for k, v in (evaluation.summary.get("pass_at_k") or {}).items()}


def k_values(evals: list[Evaluation]) -> list[str]:
    names = {k for e in evals for k in pass_at_k(e)}
    return sorted(names, key=lambda name: int(name.split("@")[1]) if name.split("@")[-1].isdigit() else 0)



# ---------------------------------------------------------------- exact-match accuracy (mtp eval exact)


def accuracy_per_difficulty(evaluation: Evaluation) -> dict[str, float]:
    """{difficulty: accuracy} of an exact-match evaluation; empty for pass@k ones."""
    if evaluation.summary.get("metric") != "exact_match":
        return {}
    return {str(k): number(v) for k, v in (evaluation.summary.get("accuracy_per_difficulty") or {}).items()}
