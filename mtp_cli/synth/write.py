"""Writing a synthetic task's folder: training corpus, test problems per difficulty, manifest."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from mtp_cli.artifacts import MtpError, NullProgress, ProgressSink, build_manifest, sha256_file, staged_folder, write_manifest
from mtp_cli.artifacts.options import option
from mtp_cli.synth.induction import items, name_pairs, story
from mtp_cli.synth.polynomials import problem_text, random_expression

TRAIN_NAME = "train.jsonl"
TEST_NAME = "test.jsonl"


def _out() -> Any:
    return option(help="The folder to write: train.jsonl, test.jsonl, manifest.json.", flags=("-o",))


def _seed() -> Any:
    return option(0, "Seed of every draw: the same seed writes the same files.")


def _overwrite() -> Any:
    return option(False, "Replace an existing synthetic task folder at --out.")


@dataclass
class PolynomialSettings:
    # Each option of `mtp synth polynomials` (and a recipe's synth section), declared once.
    out: Path = _out()
    seed: int = _seed()
    train_problems: int = option(100_000, "Training problems (one document each).")
    test_problems: int = option(200, "Test problems per number of operations.")
    train_max_operations: int = option(5, "Training problems have 1 to this many operations (uniformly).")
    test_max_operations: int = option(10, "Test sets for 1 to this many operations (more than training's: out of domain).")
    overwrite: bool = _overwrite()

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


def _write_task(
    out: Path,
    overwrite: bool,
    documents: Iterator[str],
    count: int,
    test_rows: list[dict[str, Any]],
    progress: ProgressSink,
    train_summary: Callable[[], dict[str, Any]],
    **fields: Any,
) -> dict[str, Any]:
    """The folder every task writes: train.jsonl ({"text"} per training document), test.jsonl, and the
    manifest, whose "train" entry `train_summary` gives once the documents are written."""
    with staged_folder(out, overwrite) as stage:
        progress.phase("writing training documents", total=count, unit="documents")
        with open(stage / TRAIN_NAME, "w", encoding="utf-8") as f:
            for text in documents:
                f.write(json.dumps({"text": text}) + "\n")
                progress.advance(1)
        _write_lines(stage / TEST_NAME, test_rows)
        manifest = build_manifest(
            "synthetic", inputs=[], files={name: sha256_file(stage / name) for name in (TRAIN_NAME, TEST_NAME)}, train=train_summary(), **fields
        )
        write_manifest(stage, manifest)
    return manifest


def write_polynomials(settings: PolynomialSettings, progress: ProgressSink | None = None) -> dict[str, Any]:
    """Write the polynomial task's folder; return its manifest. No test problem appears in training."""
    settings.validate()
    test = _test_problems(settings)
    held_out = {p["prompt"] for p in test}
    rng = random.Random(f"polynomials-{settings.seed}-train")
    counts: Counter[int] = Counter()
    skipped = 0

    def documents() -> Iterator[str]:
        nonlocal skipped
        while sum(counts.values()) < settings.train_problems:
            m = rng.randint(1, settings.train_max_operations)
            prompt, answer = problem_text(random_expression(rng, m))
            if prompt in held_out:
                skipped += 1
                continue
            counts[m] += 1
            yield prompt + answer

    def train_summary() -> dict[str, Any]:
        return {"problems": settings.train_problems, "per_operations": dict(sorted(counts.items())), "skipped_as_test": skipped}

    return _write_task(
        settings.out, settings.overwrite, documents(), settings.train_problems, test, progress or NullProgress(), train_summary,
        arguments=asdict(settings),
        task="polynomials",
        definition="F_7[X]/(X^5); see mtp_cli/synth/polynomials.py and README",
        test={"problems": len(test), "per_operations": settings.test_problems, "operations": [1, settings.test_max_operations], "in_domain_up_to": settings.train_max_operations},
    )


@dataclass
class InductionSettings:
    # Each option of `mtp synth induction` (and a recipe's synth section), declared once.
    out: Path = _out()
    seed: int = _seed()
    train_stories: int = option(20_000, "Training stories (one document each).")
    test_stories: int = option(100, "Test stories (the paper's count); each gives one item per repeated mention of a name.")
    held_out_names: int = option(32, "Two-syllable names (of 256) kept out of training, for the test stories.")
    overwrite: bool = _overwrite()

    def validate(self) -> None:
        for name in ("train_stories", "test_stories", "held_out_names"):
            if getattr(self, name) < 1:
                raise MtpError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.held_out_names > 128:
            raise MtpError("--held-out-names must be at most 128 (half of the 256 names)")


def write_induction(settings: InductionSettings, progress: ProgressSink | None = None) -> dict[str, Any]:
    """Write the induction task's folder; return its manifest. Test stories use only held-out names."""
    settings.validate()
    train_names, test_names = name_pairs(settings.seed, settings.held_out_names)
    rng = random.Random(f"induction-{settings.seed}-test")
    test = []
    for number in range(settings.test_stories):
        text, characters = story(rng, test_names)
        for k, item in enumerate(items(text, characters)):
            test.append({"task_id": f"induction/{number}/{k}", "prompt": item.prompt, "answer": item.answer, "match": "prefix"})
    train_rng = random.Random(f"induction-{settings.seed}-train")
    documents = (story(train_rng, train_names)[0] for _ in range(settings.train_stories))
    return _write_task(
        settings.out, settings.overwrite, documents, settings.train_stories, test, progress or NullProgress(),
        lambda: {"stories": settings.train_stories, "names": len(train_names)},
        arguments=asdict(settings),
        task="induction",
        definition="two-syllable names in template stories; see mtp_cli/synth/induction.py and README",
        test={"stories": settings.test_stories, "items": len(test), "names": test_names},
    )
