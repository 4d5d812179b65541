"""The datasets mtp knows by name: how to load each, its prompt format and its data file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from mtp_cli.artifacts import MtpError, sha256_file
from mtp_cli.problems import humaneval, mbpp
from mtp_cli.problems.problem import Problem
from mtp_cli.problems.problem_file import find_task_id, read_problem_file

_DATASETS: dict[str, ModuleType] = {"humaneval": humaneval, "mbpp": mbpp}
DATASETS = tuple(_DATASETS)


@dataclass(frozen=True)
class DatasetInfo:
    """What an output records about the problems it was measured on, so results stay comparable."""

    name: str
    split: str
    prompt_format: str
    stop_sequences: tuple[str, ...]
    default_timeout: float
    data_file: str
    data_sha256: str
    problems: int


def _module(name: str) -> ModuleType:
    try:
        return _DATASETS[name]
    except KeyError:
        raise MtpError(f"unknown dataset {name!r}", f"choose one of: {', '.join(DATASETS)}") from None


def load_problems(name: str, split: str = "test") -> dict[str, Problem]:
    """Problems of a dataset split by task id, in dataset order (MBPP test: task ids 11-510)."""
    return _module(name).load(split)


def dataset_info(name: str, split: str = "test") -> DatasetInfo:
    module = _module(name)
    return DatasetInfo(
        name=name,
        split=split,
        prompt_format=module.PROMPT_FORMAT,
        stop_sequences=module.STOP_SEQUENCES,
        default_timeout=module.DEFAULT_TIMEOUT,
        data_file=str(module.data_path()),
        data_sha256=sha256_file(module.data_path()),
        problems=len(module.load(split)),
    )


def normalize_task_id(name: str, raw: object) -> str | None:
    """The canonical task id for a samples file's `task_id` value, or None when it cannot be one."""
    return _module(name).normalize_task_id(raw)


@dataclass(frozen=True)
class ProblemSet:
    """The problems a generation or an evaluation runs on: a named dataset or a user's problem file."""

    info: DatasetInfo
    problems: dict[str | int, Problem]
    from_file: bool

    def task_id(self, raw: object) -> str | int | None:
        """A samples file's task id as the problems spell it, or None when it is none of them."""
        if self.from_file:
            return find_task_id(self.problems, raw)
        return normalize_task_id(self.info.name, raw)


def problem_set(dataset: str | None, problems_file: str | Path | None) -> ProblemSet:
    """Exactly one of `--dataset NAME` and `--problems FILE.jsonl`."""
    if (dataset is None) == (problems_file is None):
        raise MtpError(
            "give exactly one of --dataset and --problems" + (" (got both)" if dataset else ""),
            f"--dataset {'|'.join(DATASETS)}, or --problems FILE.jsonl in HumanEval's or MBPP's format",
        )
    if dataset is not None:
        return ProblemSet(dataset_info(dataset), load_problems(dataset), from_file=False)
    path = Path(problems_file)
    kind, problems = read_problem_file(path)
    module = _module(kind)
    info = DatasetInfo(
        name=path.name,
        split="file",
        prompt_format=module.PROMPT_FORMAT,
        stop_sequences=module.STOP_SEQUENCES,
        default_timeout=module.DEFAULT_TIMEOUT,
        data_file=str(path),
        data_sha256=sha256_file(path),
        problems=len(problems),
    )
    return ProblemSet(info, problems, from_file=True)
