"""The synthetic-task recipes run end to end (shrunk): synth, tokenize, train, generate, exact eval, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtp_cli.pipeline import build_pipeline, load_recipe_file, run_pipeline

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"
SHRUNK = [
    "train.steps=3", "train.batch_tokens=1024", "train.micro_batch=2", "train.warmup=1", "train.eval_every=3",
    "train.eval_tokens=1024", "train.save_every=3", "tokenize.seq_len=256",
]


@pytest.mark.parametrize(
    "recipe, task_settings, runs",
    [
        ("polynomials", ["synth.train_problems=400", "synth.test_problems=2", "synth.test_max_operations=7"],
         {"n1": {"heads": 1}, "n2": {"heads": 2}}),
        ("induction", ["synth.train_stories=200", "synth.test_stories=3"], {"n1": {"heads": 1}, "n2": {"heads": 2}}),
    ],
)
def test_synthetic_recipe_runs_end_to_end(recipe, task_settings, runs, tmp_path):
    settings = [*SHRUNK, *task_settings, "train.model_overrides={dim: 32, n_layers: 3, n_heads: 2, max_seq_len: 512}"]
    out = tmp_path / "out"

    def spec():
        loaded = load_recipe_file(PIPELINES / f"{recipe}.yaml", settings)
        loaded["runs"] = runs  # two runs instead of the recipe's seven
        return build_pipeline(loaded, out)

    result = run_pipeline(spec())
    steps = [s.step for s in result.steps]
    assert steps[:2] == ["synth", "tokenize"] and "eval/n2/greedy" in steps and steps[-1] == "report"
    summary = json.loads((out / "eval" / "n1" / "greedy" / "summary.json").read_text())
    assert summary["metric"] == "exact_match" and 0.0 <= summary["accuracy"] <= 1.0
    if recipe == "polynomials":
        assert list(summary["accuracy_per_difficulty"]) == [str(m) for m in range(1, 8)] and summary["in_domain_up_to"] == 5
    assert (out / "report" / "accuracy.png").is_file()
    rerun = run_pipeline(spec())
    assert all(s.status == "skipped" for s in rerun.steps)
