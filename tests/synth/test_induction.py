"""The induction task: seeded, no test name in training, items that need the earlier mention, scoring."""

from __future__ import annotations

import json

from mtp_cli.cli import main
from mtp_cli.eval.exact import ExactConfig, evaluate_exact
from mtp_cli.synth import InductionSettings, write_induction


def test_seeded_and_no_test_name_in_training(tmp_path):
    first = write_induction(InductionSettings(out=tmp_path / "a", train_stories=2000, test_stories=20))
    again = write_induction(InductionSettings(out=tmp_path / "b", train_stories=2000, test_stories=20))
    other = write_induction(InductionSettings(out=tmp_path / "c", train_stories=2000, test_stories=20, seed=1))
    assert first["files"] == again["files"] and first["files"] != other["files"]
    names = first["test"]["names"]
    training = (tmp_path / "a" / "train.jsonl").read_text()
    assert len(names) == 32 and not [n for n in names if n in training]
    # every syllable of a test name is known from training
    assert all(n[:2] in training and n[2:] in training for n in names)


def test_items_stop_after_the_first_syllable_of_a_repeated_name(tmp_path):
    manifest = write_induction(InductionSettings(out=tmp_path / "t", train_stories=10, test_stories=30))
    items = [json.loads(line) for line in (tmp_path / "t" / "test.jsonl").read_text().splitlines()]
    assert len(items) == manifest["test"]["items"] > 30
    names = manifest["test"]["names"]
    for item in items:
        name = next(n for n in names if item["prompt"].endswith(n[:2]) and n[2:] == item["answer"] and n in item["prompt"][:-2])
        assert item["prompt"][:-2].count(name) >= 1  # mentioned before: induction can answer it


def test_prefix_scoring_on_hand_made_predictions(tmp_path, capsys):
    write_induction(InductionSettings(out=tmp_path / "t", train_stories=10, test_stories=2))
    items = [json.loads(line) for line in (tmp_path / "t" / "test.jsonl").read_text().splitlines()][:3]
    completions = [items[0]["answer"] + " walked home.", "xyz", items[2]["answer"][:-1]]  # right, wrong, cut short
    samples = tmp_path / "s.jsonl"
    samples.write_text("".join(json.dumps({"task_id": i["task_id"], "completion": c}) + "\n" for i, c in zip(items, completions)))
    summary = evaluate_exact(ExactConfig(samples, tmp_path / "t" / "test.jsonl", tmp_path / "eval"))
    assert summary["accuracy"] == 1 / 3
    assert main(["synth", "induction", "--out", str(tmp_path / "cli"), "--train-stories", "50", "--test-stories", "3"]) == 0
    assert "induction" in capsys.readouterr().out


def test_the_report_draws_accuracy_per_difficulty(tmp_path):
    from mtp_cli.report import ReportConfig, write_report
    from mtp_cli.synth import PolynomialSettings, write_polynomials

    write_polynomials(PolynomialSettings(out=tmp_path / "poly", train_problems=20, test_problems=3, train_max_operations=2, test_max_operations=4))
    problems = [json.loads(line) for line in (tmp_path / "poly" / "test.jsonl").read_text().splitlines()]
    for name, right in (("n1", {1}), ("n2", {1, 2, 3})):  # n2 answers more difficulties right
        samples = tmp_path / f"{name}.jsonl"
        samples.write_text("".join(json.dumps({"task_id": p["task_id"], "completion": p["answer"] if p["operations"] in right else "7x"}) + "\n" for p in problems))
        evaluate_exact(ExactConfig(samples, tmp_path / "poly" / "test.jsonl", tmp_path / "evals" / name))
    result = write_report(ReportConfig(inputs=[tmp_path / "evals"], out=tmp_path / "report"))
    assert "accuracy.png" in result.figures
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert "## Exact-match accuracy" in summary and "## pass@k" not in summary
    rows = [line for line in summary.splitlines() if line.startswith("| n")]
    assert any("| 100.0% | 100.0% | 100.0% | 0.0% |" in r and r.startswith("| n2") for r in rows), rows
    assert any(r.startswith("| n1") and "| 100.0% | 0.0% | 0.0% | 0.0% |" in r for r in rows), rows


def test_the_report_of_items_without_difficulties_has_no_empty_columns(tmp_path):
    from mtp_cli.report import ReportConfig, write_report

    write_induction(InductionSettings(out=tmp_path / "t", train_stories=10, test_stories=4))
    items = [json.loads(line) for line in (tmp_path / "t" / "test.jsonl").read_text().splitlines()]
    for name, right in (("n1", 1), ("n2", 3)):
        samples = tmp_path / f"{name}.jsonl"
        samples.write_text("".join(json.dumps({"task_id": i["task_id"], "completion": i["answer"] if k < right else "zz"}) + "\n" for k, i in enumerate(items)))
        evaluate_exact(ExactConfig(samples, tmp_path / "t" / "test.jsonl", tmp_path / "evals" / name))
    result = write_report(ReportConfig(inputs=[tmp_path / "evals"], out=tmp_path / "report"))
    assert "accuracy.png" in result.figures
    summary = (tmp_path / "report" / "summary.md").read_text()
    header = next(line for line in summary.splitlines() if line.startswith("| evaluation"))
    assert header == "| evaluation | samples | mode | all |"
    assert any(line.startswith("| n2") and line.endswith(f"| {100 * 3 / len(items):.1f}% |") for line in summary.splitlines())
