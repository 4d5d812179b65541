"""Real artifacts for the report tests, made once per session by the steps themselves: two short
training runs (n=1 and n=4), greedy and speculative samples of the n=4 run, and an evaluation of the
greedy samples, laid out like a pipeline's output folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Work:
    root: Path  # holds everything below, as `mtp pipeline run` output does
    run_n1: Path
    run_n4: Path
    greedy: Path  # samples files
    speculative: Path
    evaluation: Path


def tiny_run(data: Path, out: Path, heads: int) -> Path:
    from mtp_cli.train import TrainConfig, train

    train(TrainConfig(
        data=data, out=out, preset="tiny", model_overrides={"dim": 64, "n_heads": 4}, heads=heads, steps=4,
        batch_tokens=512, micro_batch=2, lr=3e-3, warmup=1, eval_every=2, save_every=4, eval_tokens=512, seed=0,
    ))
    return out


def samples(run: Path, out: Path, mode: str) -> Path:
    from mtp_cli.generate import GenerateConfig, generate_samples

    generate_samples(GenerateConfig(checkpoint=run, out=out, dataset="humaneval", limit=2, max_new_tokens=16, mode=mode, batch_size=2))
    return out


@pytest.fixture(scope="session")
def work(tmp_path_factory, tokenized_bytes) -> Work:
    from mtp_cli.eval import EvalConfig, evaluate

    root = tmp_path_factory.mktemp("report-inputs")
    run_n1 = tiny_run(tokenized_bytes, root / "runs" / "n1", heads=1)
    run_n4 = tiny_run(tokenized_bytes, root / "runs" / "n4", heads=4)
    greedy = samples(run_n4, root / "samples" / "n4" / "greedy.jsonl", "greedy")
    speculative = samples(run_n4, root / "samples" / "n4" / "speculative.jsonl", "speculative")
    evaluation = root / "eval" / "n4" / "greedy"
    evaluate(EvalConfig(dataset="humaneval", out=evaluation, samples=greedy, ks=[1], workers=1))
    return Work(root, run_n1, run_n4, greedy, speculative, evaluation)
