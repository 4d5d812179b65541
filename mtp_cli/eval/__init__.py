"""`mtp eval`: pass@k of code samples, each test program run in a sandbox.

Imports nothing heavy (no torch): the command starts fast and the sandbox launcher stays bare.
"""

from mtp_cli.eval.config import EvalConfig
from mtp_cli.eval.evaluate import evaluate, summarize
from mtp_cli.eval.passk import PassAtK, estimate_pass_at_k, pass_at_k
from mtp_cli.eval.runner import default_workers, run_programs
from mtp_cli.eval.samples import Sample, read_samples, reference_samples
from mtp_cli.eval.sandbox import Launcher, RunResult, SandboxConfig, run_program

__all__ = [
    "EvalConfig",
    "Launcher",
    "PassAtK",
    "RunResult",
    "Sample",
    "SandboxConfig",
    "default_workers",
    "estimate_pass_at_k",
    "evaluate",
    "pass_at_k",
    "read_samples",
    "reference_samples",
    "run_program",
    "run_programs",
    "summarize",
]
