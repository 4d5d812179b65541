"""MBPP (974 problems, CC-BY-4.0, shipped in data/), its splits and its 3-shot prompt.

Task ids are written "MBPP/<n>" (e.g. "MBPP/11") everywhere mtp writes them; samples files may also
use the bare integer 11 or the string "11" (and evalplus's "Mbpp/11").
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from mtp_cli.artifacts import MtpError
from mtp_cli.problems.problem import Problem

NAME = "mbpp"
PROMPT_FORMAT = "mbpp-3shot-begin-done-v1"
STOP_SEQUENCES = ("[DONE]",)
# CPU seconds per program: the reference of MBPP/123 (amicable numbers below 9999, quadratic) needs
# about 6.5 s on a 2-core machine; the dataset README checks every reference with 10 s.
DEFAULT_TIMEOUT = 10.0
SHA256 = "ccf64ceae9c5403bf50a044cb6d505bfd2a2963ee58338ba268fd65beab92a9f"
PREFIX = "MBPP/"
FEW_SHOT_IDS = (2, 3, 4)
SPLITS = {"prompt": range(1, 11), "test": range(11, 511), "validation": range(511, 601), "train": range(601, 975)}


def data_path() -> Path:
    return Path(__file__).parent / "data" / "mbpp.jsonl"


@lru_cache(maxsize=1)
def _rows() -> dict[int, dict]:
    data = data_path().read_bytes()
    if hashlib.sha256(data).hexdigest() != SHA256:
        raise MtpError(f"{data_path()} is not the MBPP file mtp shipped (sha256 differs)", "reinstall mtp")
    rows = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    return {row["task_id"]: row for row in rows}


def _text(code: str) -> str:
    return code.replace("\r\n", "\n")


def format_task(row: dict, code: str | None = None) -> str:
    """One task in the original MBPP format; without `code` it ends where the model starts writing."""
    tests = "\n".join(row["test_list"])
    head = (
        f"You are an expert Python programmer, and here is your task: {row['text']} "
        f"Your code should pass these tests:\n\n{tests}\n[BEGIN]\n"
    )
    return head if code is None else f"{head}{_text(code)}\n[DONE]"


def few_shot_prompt(row: dict) -> str:
    rows = _rows()
    shots = [format_task(rows[i], rows[i]["code"]) for i in FEW_SHOT_IDS]
    return "\n".join(shots + [format_task(row)])


def _test(row: dict) -> str:
    # test_setup_code first (only task 367 of the test split has one), then the asserts;
    # challenge_test_list is ignored, as in every published harness.
    return "\n".join([row["test_setup_code"], *row["test_list"]])


def _problem(row: dict) -> Problem:
    return Problem(
        task_id=f"{PREFIX}{row['task_id']}",
        dataset=NAME,
        prompt=few_shot_prompt(row),
        code_prefix="",
        test=_test(row),
        reference=row["code"],
        stop_sequences=STOP_SEQUENCES,
    )


def load(split: str = "test") -> dict[str, Problem]:
    if split != "all" and split not in SPLITS:
        raise ValueError(f"MBPP splits are {', '.join(SPLITS)} or all (asked for {split!r})")
    ids = sorted(_rows()) if split == "all" else SPLITS[split]
    return {f"{PREFIX}{i}": _problem(_rows()[i]) for i in ids}


def normalize_task_id(raw: object) -> str | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return f"{PREFIX}{raw}"
    if not isinstance(raw, str):
        return None
    text = raw[len(PREFIX) :] if raw.upper().startswith(PREFIX) else raw
    return f"{PREFIX}{int(text)}" if text.isdigit() else None
