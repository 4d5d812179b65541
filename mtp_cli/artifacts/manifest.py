"""`manifest.json`: what every artifact folder says about itself, written last.

Every step writes one into its output folder after everything else is in place, and every step
that consumes an artifact reads it back through `read_manifest`, which checks kind and version.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mtp_cli import __version__
from mtp_cli.artifacts.atomic import MANIFEST_NAME, atomic_write_json
from mtp_cli.artifacts.errors import MtpError
from mtp_cli.artifacts.folder_lock import LOCK_NAME

# The format version each artifact kind is written with; readers refuse newer ones.
FORMAT_VERSIONS: dict[str, int] = {
    "tokenized": 1,
    "run": 1,
    "checkpoint": 1,
    "samples": 1,
    "export": 1,
    "synthetic": 1,
    "eval": 1,
    "report": 1,
    "pipeline": 1,
}


def jsonable(value: Any) -> Any:
    """Arguments as JSON: paths become strings, tuples lists, dataclasses dicts."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: jsonable(getattr(value, k)) for k in value.__dataclass_fields__}
    return value


def build_manifest(kind: str, arguments: dict[str, Any], inputs: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    if kind not in FORMAT_VERSIONS:
        raise ValueError(f"unknown artifact kind {kind!r}")
    return {
        "kind": kind,
        "format_version": FORMAT_VERSIONS[kind],
        "tool": "mtp",
        "tool_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "arguments": jsonable(arguments),
        "inputs": jsonable(inputs),
        **jsonable(fields),
    }


def write_manifest(folder: str | Path, manifest: dict[str, Any]) -> Path:
    path = Path(folder) / MANIFEST_NAME
    atomic_write_json(path, manifest)
    return path


def load_manifest_file(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text())
    except OSError as e:
        raise MtpError(f"cannot read {path}: {e.strerror}") from None
    except ValueError:
        raise MtpError(f"{path} is not valid JSON", "the artifact is damaged; write it again") from None
    if not isinstance(manifest, dict) or manifest.get("tool") != "mtp" or "kind" not in manifest:
        raise MtpError(f"{path} is not an mtp manifest", "point at a folder written by mtp")
    return manifest


# The command that makes each kind of artifact, for the hint when a folder is not one.
MAKERS: dict[str, str] = {
    "tokenized": "mtp tokenize SOURCES --out DATA",
    "run": "mtp train DATA --out RUN",
    "checkpoint": "mtp train DATA --out RUN",
    "samples": "mtp generate RUN --out SAMPLES.jsonl",
    "eval": "mtp eval pass@k SAMPLES.jsonl --dataset humaneval",
    "report": "mtp report PATHS --out REPORT",
    "pipeline": "mtp pipeline run RECIPE.yaml --out OUT",
}
# Names only mtp's steps write: a folder holding some of them but no manifest was cut short.
MTP_NAMES = {"train", "validation", "files.jsonl", "metrics.jsonl", "checkpoints", "latest", "results.jsonl",
             "model.safetensors", "mtp_config.json", "trainer_state.json", "trainer.pt", ".mtp-pipeline", "recipe.yaml"}


def _foreign_model(folder: Path) -> str | None:
    """What kind of model folder from elsewhere this is, if it is one `mtp import` converts."""
    config = folder / "config.json"
    if config.is_file():
        try:
            if "model_type" in json.loads(config.read_text()):
                return "a Hugging Face model folder"
        except (OSError, ValueError, TypeError):
            pass
    if (folder / "params.json").is_file() and any(folder.glob("consolidated.*.pth")):
        return "a model release folder (params.json, consolidated.*.pth)"
    return None


def missing_manifest_error(folder: Path, kind: str | None) -> MtpError:
    """The error for a folder without manifest.json: empty, cut short by mtp, another tool's model, or foreign."""
    entries = {entry.name for entry in folder.iterdir()} - {LOCK_NAME}
    maker = MAKERS.get(kind or "", "the mtp command that writes it (mtp tokenize, train, generate, eval pass@k)")
    if not entries:
        return MtpError(f"{folder} is empty, not an mtp artifact", f"make one with: {maker}")
    foreign = _foreign_model(folder)
    if foreign is not None:
        return MtpError(f"{folder} is {foreign}, not an mtp checkpoint", f"convert it with: mtp import {folder} --out CKPT")
    if entries & MTP_NAMES:
        return MtpError(f"{folder} has no manifest.json: it is half-written (an mtp step was cut short)", f"rerun it: {maker}")
    return MtpError(f"{folder} is not an mtp folder (it has no manifest.json)", f"make one with: {maker}")


def read_manifest(folder: str | Path, kind: str | None = None) -> dict[str, Any]:
    """Read and check the manifest of an artifact folder; one clear MtpError for anything wrong."""
    folder = Path(folder)
    if not folder.exists():
        raise MtpError(f"{folder} does not exist")
    if not folder.is_dir():
        raise MtpError(f"{folder} is a file, not an mtp artifact folder")
    path = folder / MANIFEST_NAME
    if not path.exists():
        raise missing_manifest_error(folder, kind)
    manifest = load_manifest_file(path)
    if kind is not None and manifest["kind"] != kind:
        raise MtpError(f"{folder} holds a '{manifest['kind']}' artifact, not '{kind}'", "check the path")
    supported = FORMAT_VERSIONS.get(manifest["kind"])
    version = manifest.get("format_version")
    if supported is None or not isinstance(version, int) or version > supported:
        raise MtpError(
            f"{folder} was written by mtp {manifest.get('tool_version', '?')} in a format this mtp "
            f"({__version__}) does not know",
            "upgrade mtp",
        )
    return manifest
