"""`mtp pipeline run` on the shipped quickstart recipe, shrunk by --set to a few seconds."""

from __future__ import annotations

import json
import os
import shutil
import signal
from contextlib import nullcontext
from pathlib import Path

import pytest

from mtp_cli.artifacts import read_manifest
from mtp_cli.cli import main
from mtp_cli.pipeline import PipelineInterrupted, QuietReporter, build_pipeline, load_recipe_file, run_pipeline, summarize_pipeline
from mtp_cli.tokenize.sources import stdlib_root
from mtp_cli.train import NullObserver

QUICKSTART = Path(__file__).resolve().parents[2] / "pipelines" / "quickstart.yaml"
PROMPTS = 4
GENERATIONS = ("greedy", "speculative", "greedy-128", "speculative-128")


def shrink() -> list[str]:
    """--set overrides that keep the recipe's shape (4 heads, greedy + speculative, pass@1) but
    make it take seconds: a small corpus, a narrow model, a few steps, a few short completions."""
    overrides = [
        f"tokenize.sources=[{stdlib_root() / 'json'}]",
        "tokenize.vocab_size=300",
        "tokenize.seq_len=128",
        "tokenize.val_fraction=0.2",
        "tokenize.workers=1",
        "train.steps=6",
        "train.batch_tokens=512",
        "train.micro_batch=4",
        "train.eval_every=3",
        "train.save_every=3",
        "train.eval_tokens=512",
        "train.model_overrides={dim: 64}",
        "eval.workers=2",
    ]
    for generation in GENERATIONS:
        overrides += [f"generate.{generation}.limit={PROMPTS}", f"generate.{generation}.max_new_tokens=16"]
    return overrides


def spec_for(out: Path, *more: str):
    return build_pipeline(load_recipe_file(QUICKSTART, shrink() + list(more)), out)


def statuses(result) -> dict[str, str]:
    return {record.step: record.status for record in result.steps}


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("pipeline") / "quickstart"
    return out, run_pipeline(spec_for(out))


def test_quickstart_runs_every_step_and_writes_every_artifact(quickstart):
    out, result = quickstart
    assert {step: status for step, status in statuses(result).items() if status != "ran"} == {
        "eval/model/greedy-128": "skipped", "eval/model/speculative-128": "skipped"}  # fixed-length: timing only
    assert list(statuses(result)) == [
        "tokenize", "train/model", "generate/model/greedy", "eval/model/greedy",
        "generate/model/speculative", "eval/model/speculative", "generate/model/greedy-128", "eval/model/greedy-128",
        "generate/model/speculative-128", "eval/model/speculative-128", "report",
    ]
    assert read_manifest(out, "pipeline")["status"] == "completed"
    assert read_manifest(out / "tokenized", "tokenized")["tokenizer"]["vocab_size"] == 300
    run = read_manifest(out / "runs" / "model", "run")
    assert run["status"] == "completed" and run["step"] == 6 and run["model"]["n_future_tokens"] == 4
    assert len(run["last_validation"]["head_loss"]) == 4
    for generation in ("greedy", "speculative"):
        lines = (out / "samples" / "model" / f"{generation}.jsonl").read_text().splitlines()
        assert len(lines) == PROMPTS
        manifest = json.loads((out / "samples" / "model" / f"{generation}.jsonl.manifest.json").read_text())
        assert manifest["kind"] == "samples" and manifest["mode"] == generation
        summary = json.loads((out / "eval" / "model" / generation / "summary.json").read_text())
        assert summary["samples"] == PROMPTS and "pass@1" in summary["pass_at_k"]
    report = out / "report"
    assert read_manifest(report, "report")
    markdown = (report / "summary.md").read_text()
    for png in report.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.name in markdown
    assert (report / "loss_per_head.png").exists() and (report / "speedup.png").exists()
    assert (out / "recipe.yaml").exists()


def test_speculative_completions_equal_greedy_ones(quickstart):
    out, _ = quickstart
    read = lambda name: [json.loads(line)["completion"] for line in (out / "samples" / "model" / f"{name}.jsonl").read_text().splitlines()]
    assert read("speculative") == read("greedy")


def test_the_final_table_reads_back_every_measure(quickstart):
    out, _ = quickstart
    rows = summarize_pipeline(spec_for(out))
    assert [row.generation for row in rows] == list(GENERATIONS)
    greedy, speculative, greedy_fixed, speculative_fixed = rows
    assert greedy.tokens_per_forward == pytest.approx(1.0, abs=0.3) and greedy.speedup is None
    assert speculative.tokens_per_forward > 1.0 and speculative.speedup > 0
    assert all(len(row.validation_loss) == 4 for row in rows)
    assert "pass@1" in greedy.pass_at_k and "pass@1" in speculative.pass_at_k
    assert greedy_fixed.pass_at_k == {} and speculative_fixed.pass_at_k == {}
    # The fixed-length pair is compared with itself, not with the runs that stop: 16 tokens each.
    assert greedy_fixed.speedup is None and speculative_fixed.speedup > 0
    assert speculative_fixed.speedup != speculative.speedup
    for name in ("greedy-128", "speculative-128"):
        lines = [json.loads(line) for line in (out / "samples" / "model" / f"{name}.jsonl").read_text().splitlines()]
        assert [line["new_tokens"] for line in lines] == [16] * PROMPTS


def test_a_second_run_skips_every_step(quickstart, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(quickstart[0], out)
    reporter = QuietReporter()
    result = run_pipeline(spec_for(out), reporter)
    assert set(statuses(result).values()) == {"skipped"}, statuses(result)
    assert not [event for event in reporter.events if event[0] == "started"]


def test_an_edit_reruns_only_the_steps_it_changes(quickstart, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(quickstart[0], out)
    result = run_pipeline(spec_for(out, "generate.speculative.draft_heads=2"))
    assert statuses(result) == {
        "tokenize": "skipped", "train/model": "skipped", "generate/model/greedy": "skipped",
        "eval/model/greedy": "skipped", "generate/model/speculative": "ran", "eval/model/speculative": "ran",
        "generate/model/greedy-128": "skipped", "eval/model/greedy-128": "skipped",
        "generate/model/speculative-128": "skipped", "eval/model/speculative-128": "skipped", "report": "ran",
    }
    manifest = json.loads((out / "samples" / "model" / "speculative.jsonl.manifest.json").read_text())
    assert manifest["draft_heads"] == 2


def test_a_replaced_output_is_made_again(quickstart, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(quickstart[0], out)
    shutil.rmtree(out / "eval" / "model" / "greedy")
    result = run_pipeline(spec_for(out))
    assert statuses(result)["eval/model/greedy"] == "ran"
    assert statuses(result)["generate/model/greedy"] == "skipped"


class InterruptAt(NullObserver):
    """Sends the process Ctrl-C after a given step, as a user would."""

    def __init__(self, step: int):
        self.step = step

    def on_step(self, record) -> None:
        if record["step"] == self.step:
            os.kill(os.getpid(), signal.SIGINT)


class InterruptingReporter(QuietReporter):
    def __init__(self, step: int):
        super().__init__()
        self.step = step

    def train_observer(self):
        return nullcontext(InterruptAt(self.step))


def test_an_interrupted_training_resumes_where_it_stopped(tmp_path):
    out = tmp_path / "crash"
    with pytest.raises(PipelineInterrupted):
        run_pipeline(spec_for(out), InterruptingReporter(step=4))
    assert read_manifest(out, "pipeline")["status"] == "interrupted"
    assert read_manifest(out / "runs" / "model", "run")["status"] == "interrupted"
    result = run_pipeline(spec_for(out))
    assert statuses(result)["tokenize"] == "skipped"
    assert statuses(result)["train/model"] == "resumed"
    run = read_manifest(out / "runs" / "model", "run")
    assert run["status"] == "completed" and run["step"] == 6


def test_the_cli_runs_a_recipe_and_refuses_a_foreign_folder(quickstart, tmp_path, capsys):
    out = tmp_path / "copy"
    shutil.copytree(quickstart[0], out)
    assert main(["pipeline", "run", str(QUICKSTART), "--out", str(out), *sum((["--set", s] for s in shrink()), [])]) == 0
    printed = capsys.readouterr()
    assert "skipped" in printed.err and "results" in printed.out and "speculative" in printed.out
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert main(["pipeline", "run", str(QUICKSTART), "--out", str(foreign)]) == 2
    assert "is not an `mtp pipeline run` folder" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "mine"


def test_a_pipeline_under_torchrun_is_refused_before_writing(tmp_path, monkeypatch):
    from mtp_cli.artifacts import MtpError

    monkeypatch.setenv("WORLD_SIZE", "2")
    out = tmp_path / "dist"
    with pytest.raises(MtpError, match="torchrun"):
        run_pipeline(spec_for(out))
    assert not out.exists()


def test_a_generation_on_a_problem_file_is_scored_on_that_file(quickstart, tmp_path):
    problems = tmp_path / "mine.jsonl"
    rows = [
        {"task_id": "Inhouse/add", "prompt": "def add(a, b):\n", "entry_point": "add", "canonical_solution": "    return a + b\n",
         "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n"},
        {"task_id": 7, "prompt": "def double(x):\n", "entry_point": "double", "canonical_solution": "    return 2 * x\n",
         "test": "def check(candidate):\n    assert candidate(4) == 8\n"},
    ]
    problems.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "copy"
    shutil.copytree(quickstart[0], out)
    mine = ["generate.greedy.dataset=null", f"generate.greedy.problems={problems}", "generate.greedy.limit=null"]
    result = run_pipeline(spec_for(out, *mine))
    assert statuses(result)["generate/model/greedy"] == "ran" and statuses(result)["eval/model/greedy"] == "ran"
    manifest = read_manifest(out / "eval" / "model" / "greedy", "eval")
    assert manifest["dataset"]["data_file"] == str(problems) and manifest["dataset"]["problems"] == 2
    results = [json.loads(line) for line in (out / "eval" / "model" / "greedy" / "results.jsonl").read_text().splitlines()]
    assert sorted(str(r["task_id"]) for r in results) == ["7", "Inhouse/add"]
    assert all(s == "skipped" for s in statuses(run_pipeline(spec_for(out, *mine))).values())
    problems.write_text(problems.read_text().replace("assert candidate(4) == 8", "assert candidate(5) == 10"))
    again = statuses(run_pipeline(spec_for(out, *mine)))  # the file's content changed, not its path
    assert again["generate/model/greedy"] == "ran" and again["eval/model/greedy"] == "ran"
