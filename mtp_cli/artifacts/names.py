"""The file names one step writes and another reads, spelled once (and importable without torch)."""

from __future__ import annotations

from pathlib import Path

MANIFEST_NAME = "manifest.json"  # a folder's manifest, written last
SIDECAR_SUFFIX = ".manifest.json"  # a single-file output's manifest lies beside it: FILE.manifest.json
METRICS_NAME = "metrics.jsonl"  # a training run's log (mtp train), read by mtp report
SAMPLES_NAME = "samples.jsonl"  # the samples file inside a folder given to mtp eval or mtp report
EVAL_SUMMARY_NAME = "summary.json"  # mtp eval's pass@k summary, read by mtp report and the pipeline


def sidecar_path(path: str | Path) -> Path:
    """Where the manifest of the single-file output `path` lies."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)
