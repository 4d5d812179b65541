"""The datasets mtp knows by name: how to load each, its prompt format and its data file."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from mtp_cli.artifacts import MtpError, sha256_file
from mtp_cli.problems import humaneval, mbpp
from mtp_cli.problems.problem import Problem

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
