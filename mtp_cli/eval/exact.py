"""`evaluate_exact`: answers scored by exact match, per difficulty (the synthetic tasks of `mtp synth`).

A problems file holds `{"task_id", "prompt", "answer"}` lines and optionally a difficulty field
(`operations` for polynomials) and `"match": "prefix"`. A sample is right when its completion, up to
the first newline and without surrounding spaces, is the answer; with `"match": "prefix"` (induction:
the answer continues a word) when the completion starts with the answer. The output folder has the layout of `mtp eval pass@k`:
`results.jsonl` (one line per sample: the sample's own fields, `prediction`, `answer`, `passed`),
`summary.json` (accuracy overall, per difficulty, in and out of the training domain) and
`manifest.json`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtp_cli.artifacts import (
    EVAL_SUMMARY_NAME,
    MtpError,
    atomic_write_json,
    atomic_write_text,
    build_manifest,
    sha256_file,
    staged_folder,
    write_manifest,
)
from mtp_cli.artifacts.options import option
from mtp_cli.eval.samples import samples_path

DIFFICULTY_FIELDS = ("operations", "difficulty")


@dataclass
class ExactConfig:
    # Each option of `mtp eval exact`, declared once.
    samples: Path = option(help="Samples JSONL written by mtp generate --prompts PROBLEMS.", argument=True, metavar="SAMPLES")
    problems: Path = option(help="The problems JSONL ({task_id, prompt, answer}), e.g. mtp synth's test.jsonl.")
    out: Path = option(help="Output folder: results.jsonl, summary.json, manifest.json.", flags=("-o",))
    in_domain_up_to: int | None = option(
        None, "Difficulties up to this were trained on.", default_text="from the problems' synth manifest",
    )
    overwrite: bool = option(False, "Replace an existing evaluation at --out.")


def _read_jsonl(path: Path, required: tuple[str, ...], what: str) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise MtpError(f"{what} file {path} does not exist") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            raise MtpError(f"{path}:{number}: not valid JSON ({e.msg})") from None
        missing = [f for f in required if not isinstance(row, dict) or f not in row]
        if missing:
            raise MtpError(f"{path}:{number}: missing field '{missing[0]}'", f"each {what} line needs {', '.join(required)}")
        rows.append(row)
    if not rows:
        raise MtpError(f"{what} file {path} is empty")
    return rows


def prediction(completion: str, problem: dict[str, Any]) -> str:
    if problem.get("match") == "prefix":
        return completion[: len(problem["answer"])]
    return completion.split("\n", 1)[0].strip()


def _difficulty(problem: dict[str, Any]) -> int | None:
    return next((problem[f] for f in DIFFICULTY_FIELDS if f in problem), None)


def score(samples: list[dict[str, Any]], problems: dict[str, dict[str, Any]], in_domain_up_to: int | None) -> tuple[list[dict], dict]:
    """Per-sample results and the summary: accuracy overall, per difficulty, in and out of domain."""
    results, per_difficulty = [], defaultdict(list)
    for sample in samples:
        problem = problems[str(sample["task_id"])]
        guess = prediction(sample["completion"], problem)
        passed = guess == problem["answer"]
        results.append({**sample, "prediction": guess, "answer": problem["answer"], "passed": passed, "difficulty": _difficulty(problem)})
        per_difficulty[_difficulty(problem)].append(passed)
    accuracy = {str(d): sum(v) / len(v) for d, v in sorted(per_difficulty.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))}
    summary: dict[str, Any] = {
        "metric": "exact_match",
        "accuracy": sum(r["passed"] for r in results) / len(results),
        "accuracy_per_difficulty": accuracy,
        "samples": len(results),
        "problems": len(problems),
    }
    if in_domain_up_to is not None:
        for name, keep in (("in_domain", lambda d: d <= in_domain_up_to), ("out_of_domain", lambda d: d > in_domain_up_to)):
            chosen = [r["passed"] for r in results if r["difficulty"] is not None and keep(r["difficulty"])]
            summary[f"accuracy_{name}"] = sum(chosen) / len(chosen) if chosen else None
        summary["in_domain_up_to"] = in_domain_up_to
    return results, summary


def _trained_up_to(problems_file: Path) -> int | None:
    """What `mtp synth` recorded: the largest difficulty its training corpus holds."""
    try:
        manifest = json.loads((problems_file.parent / "manifest.json").read_text())
        return manifest["test"]["in_domain_up_to"] if manifest.get("kind") == "synthetic" else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def evaluate_exact(config: ExactConfig) -> dict[str, Any]:
    samples_file = samples_path(config.samples)
    problems = {str(p["task_id"]): p for p in _read_jsonl(Path(config.problems), ("task_id", "prompt", "answer"), "problems")}
    samples = _read_jsonl(samples_file, ("task_id", "completion"), "samples")
    unknown = [s["task_id"] for s in samples if str(s["task_id"]) not in problems]
    if unknown:
        raise MtpError(f"{samples_file}: task_id {unknown[0]!r} is not in {config.problems}", "score samples against the problems they were made from")
    in_domain = config.in_domain_up_to if config.in_domain_up_to is not None else _trained_up_to(Path(config.problems))
    results, summary = score(samples, problems, in_domain)
    with staged_folder(config.out, config.overwrite) as stage:
        atomic_write_text(stage / "results.jsonl", "".join(json.dumps(r) + "\n" for r in results))
        atomic_write_json(stage / EVAL_SUMMARY_NAME, summary)
        inputs = [{"kind": "samples", "path": str(samples_file), "sha256": sha256_file(samples_file)},
                  {"kind": "problems", "path": str(config.problems), "sha256": sha256_file(Path(config.problems))}]
        write_manifest(stage, build_manifest("eval", {"samples": samples_file, "problems": config.problems, "out": config.out}, inputs, metric="exact_match", summary=summary))
    return summary
