"""Benchmark datasets and their prompt formats: HumanEval and MBPP.

Shared by `mtp generate` (prompts, stop sequences) and `mtp eval` (test programs):

    problems = load_problems("mbpp")              # {"MBPP/11": Problem, ...}, the test split
    problem.prompt, problem.stop_sequences
    program_parts(problem, completion)            # (code, tests), run apart by the eval sandbox
"""

from mtp_cli.problems.problem import Problem, build_program, clean_completion, program_parts
from mtp_cli.problems.registry import DATASETS, DatasetInfo, dataset_info, load_problems, normalize_task_id

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "Problem",
    "build_program",
    "program_parts",
    "clean_completion",
    "dataset_info",
    "load_problems",
    "normalize_task_id",
]
