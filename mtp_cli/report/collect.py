"""Finding and reading what `mtp report` draws: training runs, samples files, evaluations.

Each path given may be one of those artifacts, or a folder holding some (a pipeline output, or any
folder of runs); artifacts are told apart by their manifest's kind, never by their names.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtp_cli.artifacts import (
    EVAL_SUMMARY_NAME,
    MANIFEST_NAME,
    METRICS_NAME,
    SAMPLES_NAME,
    SIDECAR_SUFFIX,
    MtpError,
    load_manifest_file,
    read_manifest,
    sha256_file,
    sidecar_path,
)


READ_KINDS = ("run", "samples", "eval")
SEARCH_DEPTH = 4  # pipeline folders hold eval/RUN/GENERATION: three levels down
EXPECTED = (
    "expected a training run folder (mtp train), a samples file with its .manifest.json (mtp generate), "
    "an evaluation folder (mtp eval pass@k), or a folder holding some of them (mtp pipeline run)"
)


@dataclass
class TrainingRun:
    path: Path
    manifest: dict[str, Any]
    train: list[dict[str, Any]]  # "train" records of metrics.jsonl, in step order
    evals: list[dict[str, Any]]  # "eval" records (validation loss per head)
    label: str = ""

    @property
    def heads(self) -> int:
        model = self.manifest.get("model") or {}
        return int(model.get("n_future_tokens") or self.manifest.get("arguments", {}).get("heads") or 1)


@dataclass
class SamplesSet:
    path: Path  # the .jsonl file
    manifest: dict[str, Any]
    records: list[dict[str, Any]]
    sha256: str
    label: str = ""

    @property
    def mode(self) -> str:
        return str(self.manifest.get("mode", "?"))

    @property
    def checkpoint(self) -> dict[str, Any]:
        inputs = self.manifest.get("inputs") or [{}]
        return inputs[0] if inputs and inputs[0].get("kind") == "checkpoint" else {}

    @property
    def checkpoint_label(self) -> str:
        """'RUN@STEP' for a checkpoint inside a run folder, else the checkpoint folder's name."""
        path = Path(self.checkpoint.get("path") or "?")
        name = path.parent.parent.name if path.parent.name == "checkpoints" else path.name
        step = self.checkpoint.get("step")
        return name if step is None else f"{name}@{step}"


@dataclass
class Evaluation:
    path: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    label: str = ""
    samples: SamplesSet | None = None  # the samples set it scored, when that was collected too

    @property
    def samples_sha256(self) -> str | None:
        for item in self.manifest.get("inputs", []):
            if item.get("role") != "dataset" and "sha256" in item:
                return item["sha256"]
        return None


@dataclass
class Collected:
    runs: list[TrainingRun] = field(default_factory=list)
    samples: list[SamplesSet] = field(default_factory=list)
    evals: list[Evaluation] = field(default_factory=list)

    def inputs(self) -> list[dict[str, Any]]:
        """What the report's manifest records about each artifact it read."""
        rows = [{"kind": "run", "path": str(r.path), "manifest_sha256": sha256_file(r.path / MANIFEST_NAME),
                 "metrics_sha256": _hash_if_exists(r.path / METRICS_NAME)} for r in self.runs]
        rows += [{"kind": "samples", "path": str(s.path), "sha256": s.sha256} for s in self.samples]
        rows += [{"kind": "eval", "path": str(e.path), "summary_sha256": sha256_file(e.path / EVAL_SUMMARY_NAME)} for e in self.evals]
        return rows


def collect(paths: list[Path]) -> Collected:
    """Read every artifact under `paths`; refuse a path that holds none."""
    if not paths:
        raise MtpError("no inputs given", "pass training runs, samples files, evaluations or a pipeline folder")
    found: dict[Path, Any] = {}
    for path in paths:
        items = _from_path(Path(path))
        if not items:
            raise MtpError(f"{path}: nothing mtp report can read is there", EXPECTED)
        for item in items:
            found.setdefault(item.path.resolve(), item)
    collected = Collected(
        runs=[x for x in found.values() if isinstance(x, TrainingRun)],
        samples=[x for x in found.values() if isinstance(x, SamplesSet)],
        evals=[x for x in found.values() if isinstance(x, Evaluation)],
    )
    _label(collected.runs, lambda r: r.path)
    _label(collected.samples, lambda s: s.path.parent if s.path.name == SAMPLES_NAME else s.path.with_suffix(""))
    _label(collected.evals, lambda e: e.path)
    by_hash = {s.sha256: s for s in collected.samples}
    for evaluation in collected.evals:
        evaluation.samples = by_hash.get(evaluation.samples_sha256 or "")
    return collected


# ---------------------------------------------------------------- finding artifacts


def _from_path(path: Path) -> list[Any]:
    if not path.exists():
        raise MtpError(f"{path} does not exist")
    if path.is_file() and path.name == MANIFEST_NAME:
        path = path.parent
    if path.is_file():
        return [_samples_file(path)]
    kind = _kind(path)
    if kind in READ_KINDS:
        return [_read(path, kind)]
    if kind is not None and kind != "pipeline":
        raise MtpError(f"{path} holds a '{kind}' artifact, which mtp report does not draw", EXPECTED)
    return _search(path, SEARCH_DEPTH)


def _search(folder: Path, depth: int) -> list[Any]:
    """Artifacts inside a folder that is not one itself; other kinds (data, checkpoints, reports) are passed over."""
    items: list[Any] = []
    for child in sorted(folder.iterdir()):
        if child.name.startswith("."):  # staging folders and temporary files of a step in progress
            continue
        if child.is_file():
            if child.suffix == ".jsonl" and sidecar_path(child).exists():
                items.append(_samples_file(child))
            continue
        try:
            kind = _kind(child)
        except MtpError:  # a manifest.json some other tool wrote
            continue
        if kind in READ_KINDS:
            items.append(_read(child, kind))
        elif kind is None and depth > 1:
            items += _search(child, depth - 1)
    return items


def _kind(folder: Path) -> str | None:
    """The kind named by a folder's manifest; None when it has none."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return None
    return load_manifest_file(path)["kind"]


def _read(folder: Path, kind: str) -> Any:
    if kind == "run":
        return read_run(folder)
    if kind == "eval":
        return read_eval(folder)
    return read_samples_set(folder / SAMPLES_NAME, read_manifest(folder, "samples"))


def _samples_file(path: Path) -> SamplesSet:
    if path.name.endswith(SIDECAR_SUFFIX):
        path = path.with_name(path.name[: -len(SIDECAR_SUFFIX)])
    sidecar = sidecar_path(path)
    if not sidecar.exists():
        raise MtpError(f"{path} has no {sidecar.name} beside it, so it was not written by mtp generate", EXPECTED)
    manifest = load_manifest_file(sidecar)
    if manifest["kind"] != "samples":
        raise MtpError(f"{sidecar} describes a '{manifest['kind']}' artifact, not samples", EXPECTED)
    return read_samples_set(path, manifest)


# ---------------------------------------------------------------- reading them


def read_run(folder: Path) -> TrainingRun:
    manifest = read_manifest(folder, "run")
    records = _read_jsonl(folder / METRICS_NAME)
    train = [r for r in records if r.get("event") == "train" and isinstance(r.get("head_loss"), list)]
    evals = [r for r in records if r.get("event") == "eval" and isinstance(r.get("head_loss"), list)]
    return TrainingRun(folder, manifest, train, evals)


def read_samples_set(path: Path, manifest: dict[str, Any]) -> SamplesSet:
    if not path.is_file():
        raise MtpError(f"{path} is missing: its manifest is there but the samples are not", "rerun mtp generate")
    return SamplesSet(path, manifest, _read_jsonl(path), sha256_file(path))


def read_eval(folder: Path) -> Evaluation:
    manifest = read_manifest(folder, "eval")
    try:
        summary = json.loads((folder / EVAL_SUMMARY_NAME).read_text())
    except (OSError, ValueError):
        raise MtpError(f"{folder / EVAL_SUMMARY_NAME} is missing or damaged", "rerun mtp eval pass@k") from None
    return Evaluation(folder, manifest, summary)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """JSON lines; a line cut short by a crash (the last one, usually) is passed over."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def number(value: Any) -> float:
    """A metric as a float: metrics.jsonl writes non-finite values as the strings "nan" and "inf"."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _hash_if_exists(path: Path) -> str | None:
    return sha256_file(path) if path.exists() else None


def _label(items: list[Any], name_of) -> None:
    """Short unique labels: the last path part, with parent folders added where names collide."""
    parts = [name_of(item).resolve().parts for item in items]
    depth = [1] * len(items)
    while True:
        labels = ["/".join(p[-d:]) for p, d in zip(parts, depth)]
        clashing = [i for i, label in enumerate(labels) if labels.count(label) > 1 and depth[i] < len(parts[i])]
        if not clashing:
            break
        for i in clashing:
            depth[i] += 1
    for item, label in zip(items, labels):
        item.label = label
