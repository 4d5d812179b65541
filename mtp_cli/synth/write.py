"""Writing a synthetic task's folder: training corpus, test problems per difficulty, manifest."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mtp_cli.artifacts import MtpError, NullProgress, ProgressSink, build_manifest, sha256_file, staged_folder, write_manifest
from mtp_cli.synth.polynomials import problem_text, random_expression

TRAIN_NAME = "train.jsonl"
TEST_NAME = "test.jsonl"


@dataclass
class PolynomialSettings:
    out: Path
    seed: int = 0
    train_problems: int = 100_000
    test_problems: int = 200  # per number of operations
    train_max_operations: int = 5  # training draws 1..this many operations, uniformly
    test_max_operations: int = 10  # test sets for 1..this many; beyond train_max_operations is out of domain
    overwrite: bool = False

    def validate(self) -> None:
        for name in ("train_problems", "test_problems", "train_max_operations", "test_max_operations"):
            if getattr(self, name) < 1:
                raise MtpError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")


def _test_problems(settings: PolynomialSettings) -> list[dict[str, Any]]:
    problems = []
    for m in range(1, settings.test_max_operations + 1):
        rng = random.Random(f"polynomials-{settings.seed}-test-{m}")
        seen: set[str] = set()
        while len(seen) < settings.test_problems:
            prompt, answer = problem_text(random_expression(rng, m))
            if prompt not in seen:
                seen.add(prompt)
                problems.append({"task_id": f"polynomials/m{m}/{len(seen) - 1}", "prompt": prompt, "answer": answer, "operations": m})
    return problems


def _write_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def write_polynomials(settings: PolynomialSettings, progress: ProgressSink | None = None) -> dict[str, Any]:
    """Write the polynomial task's folder; return its manifest. No test problem appears in training."""
    progress = progress or NullProgress()
    settings.validate()
    test = _test_problems(settings)
    held_out = {p["prompt"] for p in test}
    rng = random.Random(f"polynomials-{settings.seed}-train")
    with staged_folder(settings.out, settings.overwrite) as stage:
        progress.phase("writing problems", total=settings.train_problems, unit="problems")
        counts: Counter[int] = Counter()
        skipped = 0
        with open(stage / TRAIN_NAME, "w", encoding="utf-8") as f:
            while sum(counts.values()) < settings.train_problems:
                m = rng.randint(1, settings.train_max_operations)
                prompt, answer = problem_text(random_expression(rng, m))
                if prompt in held_out:
                    skipped += 1
                    continue
                f.write(json.dumps({"text": prompt + answer}) + "\n")
                counts[m] += 1
                progress.advance(1)
        _write_lines(stage / TEST_NAME, test)
        manifest = build_manifest(
            "synthetic",
            arguments=asdict(settings),
            inputs=[],
            task="polynomials",
            definition="F_7[X]/(X^5); see mtp_cli/synth/polynomials.py and README",
            train={"problems": settings.train_problems, "per_operations": dict(sorted(counts.items())), "skipped_as_test": skipped},
            test={"problems": len(test), "per_operations": settings.test_problems, "operations": [1, settings.test_max_operations], "in_domain_up_to": settings.train_max_operations},
            files={name: sha256_file(stage / name) for name in (TRAIN_NAME, TEST_NAME)},
        )
        write_manifest(stage, manifest)
    return manifest
