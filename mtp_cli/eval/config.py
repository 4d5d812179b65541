"""What `mtp eval pass@k` is asked to do: one dataclass, each option declared once with its help
(the sandbox's own options are declared in SandboxConfig)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mtp_cli.artifacts import MtpError
from mtp_cli.artifacts.options import option, parse_list
from mtp_cli.eval.sandbox import SandboxConfig
from mtp_cli.problems import ProblemSet, problem_set


def check_ks(ks: list[int]) -> None:
    if not ks or any(k < 1 for k in ks):
        raise MtpError(f"--k {ks} must list positive integers", "e.g. --k 1,10,100")


def _ks(text: str) -> list[int]:
    ks = parse_list(text, int, "--k", "1,10,100")
    check_ks(ks)
    return ks


@dataclass
class EvalConfig:
    # Each option of `mtp eval pass@k`, declared once (the sandbox's own in SandboxConfig).
    dataset: str | None = option(
        help="humaneval (164 problems) or mbpp (test split, task ids 11-510); or --problems.", flags=("-d",), default_text="none",
    )  # a named dataset, or None with `problems`
    out: Path = option(help="Output folder.", flags=("-o",), default_text="beside the samples, NAME.eval-DATASET")
    samples: Path | None = option(
        None, "Samples JSONL (task_id, completion per line), as `mtp generate` writes it, or a folder holding a "
        "samples.jsonl; none with --reference.", argument=True, metavar="SAMPLES",
    )  # None with reference=True
    reference: bool = option(False, "Run the dataset's own solutions instead of samples (the harness self-check).")
    ks: list[int] = option(
        default_factory=lambda: [1, 10, 100], name="--k", cli_type=str, parse=_ks, metavar="K1,K2,...",
        help="Comma-separated k values; a k above some problem's sample count is noted, not computed.",
        default_text="1,10,100; 1 with --reference",
    )
    workers: int = option(0, "Programs run at once (0: one per core).")
    sandbox: SandboxConfig | None = None  # None: the defaults, with the dataset's default timeout
    resume: bool = option(False, "Reuse results already in --out for the same samples and settings.")
    overwrite: bool = option(False, "Replace an existing evaluation at --out.")
    problems: Path | None = option(
        None, "Your own problem file (JSONL, HumanEval's or MBPP's format) instead of --dataset: the one the samples "
        "were generated from.", default_text="none",
    )  # a problem file in HumanEval's or MBPP's format, instead of `dataset`

    def problem_set(self) -> ProblemSet:
        return problem_set(self.dataset, self.problems)
