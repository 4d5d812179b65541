"""A user's own problem file (`--problems FILE.jsonl`) in HumanEval's or MBPP's format.

HumanEval's format, as HumanEval+ and most in-house test sets write it:
    {"task_id", "prompt", "test", "entry_point", "canonical_solution" (optional)}
The program is prompt + completion + test, then `check(entry_point)` when the test defines `check`
(HumanEval's and HumanEval+'s tests do; MBPP+'s call the function by name).

MBPP's format: {"task_id", "text", "test_list", "code" (optional), "test_setup_code" (optional)}, prompted
with MBPP's 3-shot [BEGIN]/[DONE] format (the shots are MBPP's tasks 2-4, as for `--dataset mbpp`).

Task ids stay as the file spells them (a string or an integer), in every output.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from mtp_cli.artifacts import MtpError
from mtp_cli.problems import humaneval, mbpp
from mtp_cli.problems.problem import Problem

HINT = (
    'each line is HumanEval\'s {"task_id", "prompt", "test", "entry_point"} '
    'or MBPP\'s {"task_id", "text", "test_list"} (one format per file)'
)
_DEFINES_CHECK = re.compile(r"^def check\(", re.MULTILINE)


def _humaneval_problem(row: dict, where: str) -> Problem:
    for name in ("prompt", "test", "entry_point"):
        if not isinstance(row.get(name), str):
            raise MtpError(f"{where}: '{name}' must be a string", HINT)
    reference = row.get("canonical_solution")
    test = row["test"]
    if _DEFINES_CHECK.search(test):
        test += f"\ncheck({row['entry_point']})"
    return Problem(
        task_id=row["task_id"],
        dataset=humaneval.NAME,
        prompt=row["prompt"],
        code_prefix=row["prompt"],
        test=test,
        reference=reference if isinstance(reference, str) else "",
        stop_sequences=humaneval.STOP_SEQUENCES,
        entry_point=row["entry_point"],
    )


def _mbpp_problem(row: dict, where: str) -> Problem:
    tests = row.get("test_list")
    if not isinstance(row.get("text"), str):
        raise MtpError(f"{where}: 'text' must be a string", HINT)
    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
        raise MtpError(f"{where}: 'test_list' must be a non-empty list of strings", HINT)
    setup = row.get("test_setup_code") or ""
    return Problem(
        task_id=row["task_id"],
        dataset=mbpp.NAME,
        prompt=mbpp.few_shot_prompt(row),
        code_prefix="",
        test="\n".join([setup, *tests]),
        reference=row["code"] if isinstance(row.get("code"), str) else "",
        stop_sequences=mbpp.STOP_SEQUENCES,
    )


def _format_of(row: dict) -> str | None:
    if "test_list" in row and "text" in row:
        return mbpp.NAME
    if "prompt" in row and "test" in row:
        return humaneval.NAME
    return None


def _parse(path: Path, number: int, text: str) -> tuple[str, Problem]:
    where = f"{path}:{number}"
    try:
        row = json.loads(text)
    except ValueError as e:
        raise MtpError(f"{where}: not valid JSON ({e.msg} at column {e.colno})", HINT) from None
    if not isinstance(row, dict):
        raise MtpError(f"{where}: a problem must be a JSON object", HINT)
    task_id = row.get("task_id")
    if not isinstance(task_id, (str, int)) or isinstance(task_id, bool):
        raise MtpError(f"{where}: 'task_id' must be a string or an integer", HINT)
    kind = _format_of(row)
    if kind is None:
        raise MtpError(f"{where}: neither HumanEval's format nor MBPP's (fields: {', '.join(sorted(row))})", HINT)
    build = _mbpp_problem if kind == mbpp.NAME else _humaneval_problem
    return kind, build(row, where)


def read_problem_file(path: str | Path) -> tuple[str, dict[str | int, Problem]]:
    """The file's format ("humaneval" or "mbpp") and its problems by task id, in file order."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise MtpError(f"problem file {path} does not exist", "pass a JSONL file of problems") from None
    except (OSError, UnicodeDecodeError) as e:
        raise MtpError(f"cannot read problem file {path}: {e}") from None
    problems: dict[str | int, Problem] = {}
    kinds: dict[str, int] = {}
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        kind, problem = _parse(path, number, text)
        kinds.setdefault(kind, number)
        if len(kinds) > 1:
            other = next(k for k in kinds if k != kind)
            raise MtpError(f"{path}:{number}: a {kind}-format problem after {other}-format ones (line {kinds[other]})", HINT)
        if problem.task_id in problems:
            raise MtpError(f"{path}:{number}: task_id {problem.task_id!r} appears twice", "task ids must be unique")
        problems[problem.task_id] = problem
    if not problems:
        raise MtpError(f"problem file {path} holds no problems", HINT)
    return next(iter(kinds)), problems


def find_task_id(problems: dict, raw: object) -> str | int | None:
    """A samples file's task id as the problem file spells it: the same value, else the same text."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        return None
    if raw in problems:
        return raw
    by_text = {str(task_id): task_id for task_id in problems}
    return by_text.get(str(raw))
