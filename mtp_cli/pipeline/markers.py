"""Done-markers: a step is skipped when it last finished with the same settings and inputs, and the
manifest it wrote then is still there, unchanged.

A marker holds one hash of the step's settings plus the content hashes of its input artifacts
(the upstream step's manifest or file), and the hash of the output manifest it wrote. Editing a
setting, rerunning an upstream step, or replacing the output by hand each make the step run again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mtp_cli.artifacts import atomic_write_json, jsonable, sha256_bytes, sha256_file

MARKERS = ".mtp-pipeline"


def step_key(settings: dict[str, Any], inputs: list[Path]) -> str:
    """What a step's result depends on, as one hash."""
    payload = {"settings": jsonable(settings), "inputs": [sha256_file(path) for path in inputs]}
    return sha256_bytes(json.dumps(payload, sort_keys=True).encode())


def _marker(out: Path, step: str) -> Path:
    return out / MARKERS / (step.replace("/", "--") + ".json")


def is_done(out: Path, step: str, key: str, output_manifest: Path) -> bool:
    try:
        marker = json.loads(_marker(out, step).read_text())
        return marker["key"] == key and marker["output_sha256"] == sha256_file(output_manifest)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def mark_done(out: Path, step: str, key: str, output_manifest: Path) -> None:
    _marker(out, step).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(_marker(out, step), {"step": step, "key": key, "output_sha256": sha256_file(output_manifest)})


def clear(out: Path, step: str) -> None:
    _marker(out, step).unlink(missing_ok=True)
