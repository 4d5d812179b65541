"""A benchmark problem, and the program that checks one completion of it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem as a model sees it (`prompt`) and as the harness checks it.

    The program run for a completion is `code_prefix + completion + "\\n" + test`: for HumanEval the
    prefix is the prompt (the model continues a function signature); for MBPP it is empty (the model
    writes the whole function after a text prompt).
    """

    task_id: str
    dataset: str
    prompt: str
    code_prefix: str
    test: str
    reference: str  # the dataset's own solution, written as a completion
    stop_sequences: tuple[str, ...]
    entry_point: str | None = None


def clean_completion(problem: Problem, completion: str) -> str:
    """Cut a completion at the first of its dataset's stop markers that ends a code block.

    Only MBPP's `[DONE]` is cut here: a generator may keep the stop string in its output, and
    Python would read `[DONE]` as a list expression.
    """
    if problem.dataset == "mbpp":
        completion = completion.split("[DONE]", 1)[0]
        if completion.lstrip().startswith("[BEGIN]"):
            completion = completion.lstrip()[len("[BEGIN]") :]
    return completion


def program_parts(problem: Problem, completion: str) -> tuple[str, str]:
    """The test program for one completion as (code, the dataset's tests): the sandbox compiles and
    runs them apart, so nothing in the code can swallow or skip the tests."""
    return problem.code_prefix + clean_completion(problem, completion) + "\n", problem.test + "\n"


def build_program(problem: Problem, completion: str) -> str:
    """The whole test program for one completion: code, then the dataset's tests."""
    return "".join(program_parts(problem, completion))
