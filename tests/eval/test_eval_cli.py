"""`mtp eval pass@k` end to end: bad inputs exit 2 with file and line, missing problems, --resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mtp_cli.cli import main
from mtp_cli.eval import EvalConfig, SandboxConfig, evaluate
from mtp_cli.problems import load_problems

FAST = SandboxConfig(timeout=2.0)


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def he_samples(tasks: range, right: int, wrong: int) -> list[dict]:
    problems = load_problems("humaneval")
    rows = []
    for i in tasks:
        p = problems[f"HumanEval/{i}"]
        rows += [{"task_id": p.task_id, "completion": p.reference}] * right
        rows += [{"task_id": p.task_id, "completion": "    return None\n"}] * wrong
    return rows


@pytest.mark.parametrize(
    "lines, message",
    [
        (['{"task_id": "HumanEval/0", "completion": "x"}', '{"task_id": "HumanEval/0"'], "samples.jsonl:2: not valid JSON"),
        (['{"task_id": "HumanEval/0"}'], "samples.jsonl:1: missing field 'completion'"),
        (['{"completion": "x"}'], "samples.jsonl:1: missing field 'task_id'"),
        (['{"task_id": "HumanEval/999", "completion": "x"}'], "samples.jsonl:1: task_id 'HumanEval/999' is not a humaneval problem"),
        (['{"task_id": "HumanEval/1", "completion": 7}'], "samples.jsonl:1: 'completion' must be a string"),
        (['["HumanEval/1", "x"]'], "samples.jsonl:1: a sample must be a JSON object"),
        # valid JSON, but no text: a lone surrogate cannot be encoded into a program
        (['{"task_id": "HumanEval/0", "completion": "x"}', '{"task_id": "HumanEval/0", "completion": "    return \\ud800\\n"}'],
         "samples.jsonl:2: 'completion' holds a lone surrogate (\\ud800 at character 11)"),
        ([""], "holds no samples"),
    ],
)
def test_bad_samples_exit_2_with_file_and_line(tmp_path, capsys, lines, message):
    samples = write_jsonl(tmp_path / "samples.jsonl", lines)
    assert main(["eval", "pass@k", str(samples), "--dataset", "humaneval", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()) and err.count("error:") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--k", "1,x"], "--k '1,x' is not a list of integers"),
        (["--k", "0"], "must list positive integers"),
        (["--dataset", "apps"], "unknown dataset 'apps'"),
        (["--reference"], "pass either SAMPLES.jsonl or --reference"),
        (["--timeout", "-1"], "--timeout must be positive"),
    ],
)
def test_bad_options_exit_2(tmp_path, capsys, args, message):
    samples = write_jsonl(tmp_path / "s.jsonl", he_samples(range(1), 1, 0))
    argv = ["eval", "pass@k", str(samples), "--out", str(tmp_path / "out")] + args
    if "--dataset" not in args:
        argv += ["--dataset", "humaneval"]
    assert main(argv) == 2
    assert message in " ".join(capsys.readouterr().err.split())


def test_missing_samples_file_exits_2(tmp_path, capsys):
    assert main(["eval", "pass@k", str(tmp_path / "nope.jsonl"), "--dataset", "mbpp"]) == 2
    assert "nope.jsonl does not exist" in capsys.readouterr().err


def test_mbpp_int_task_ids_and_done_marker(tmp_path):
    problems = load_problems("mbpp")
    rows = [{"task_id": 11, "completion": problems["MBPP/11"].reference + "\n[DONE]"},
            {"task_id": "12", "completion": "def nothing(): pass"}]
    summary = evaluate(EvalConfig(dataset="mbpp", out=tmp_path / "o", samples=write_jsonl(tmp_path / "s.jsonl", rows), ks=[1], sandbox=FAST))
    assert summary["pass_at_k"]["pass@1"] == 0.5
    assert summary["outcomes"] == {"passed": 1, "failed": 1}


def test_problems_without_samples_are_reported(tmp_path, capsys):
    samples = write_jsonl(tmp_path / "s.jsonl", he_samples(range(2), right=1, wrong=1))
    out = tmp_path / "o"
    assert main(["eval", "pass@k", str(samples), "-d", "humaneval", "--k", "1,2,5", "--out", str(out), "--workers", "2"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pass_at_k"] == {"pass@1": 0.5, "pass@2": 1.0}
    assert summary["problems_with_samples"] == 2 and len(summary["problems_without_samples"]) == 162
    text = " ".join(capsys.readouterr().out.split())
    assert "162 problems have no samples" in text and "pass@5 not computed" in text and "pass@1" in text


def test_resume_reuses_results_for_the_same_samples(tmp_path):
    samples = write_jsonl(tmp_path / "s.jsonl", he_samples(range(3), right=1, wrong=1))
    out = tmp_path / "o"
    first = evaluate(EvalConfig(dataset="humaneval", out=out, samples=samples, ks=[1], sandbox=FAST))
    assert first["reused_results"] == 0 and first["samples"] == 6
    with pytest.raises(Exception, match="already holds an mtp artifact"):
        evaluate(EvalConfig(dataset="humaneval", out=out, samples=samples, ks=[1], sandbox=FAST))

    # More samples, one changed completion: the 5 unchanged results are reused, 1 + 2 programs run.
    rows = he_samples(range(4), right=1, wrong=1)
    rows[1] = {"task_id": "HumanEval/0", "completion": "    return True\n"}
    write_jsonl(samples, rows)
    second = evaluate(EvalConfig(dataset="humaneval", out=out, samples=samples, ks=[1], sandbox=FAST, resume=True))
    assert second["reused_results"] == 5 and second["run"]["programs"] == 3 and second["samples"] == 8
    assert second["pass_at_k"]["pass@1"] == 0.5

    # Different limits: results are not silently mixed.
    with pytest.raises(Exception, match="other settings"):
        evaluate(EvalConfig(dataset="humaneval", out=out, samples=samples, ks=[1], sandbox=SandboxConfig(timeout=9.0), resume=True))


def test_resume_continues_an_interrupted_run(tmp_path):
    samples = write_jsonl(tmp_path / "s.jsonl", he_samples(range(3), right=1, wrong=0))
    out = tmp_path / "o"
    evaluate(EvalConfig(dataset="humaneval", out=out, samples=samples, ks=[1], sandbox=FAST))
    # Turn the folder into what an interrupted run leaves: no manifest, a partial file with 2 of 3.
    settings = json.loads((out / "manifest.json").read_text())["settings"]
    done = (out / "results.jsonl").read_text().splitlines()[:2]
    for name in ("manifest.json", "results.jsonl", "summary.json"):
        (out / name).unlink()
    (out / "results.partial.jsonl").write_text("\n".join([json.dumps({"settings": settings}), *done, '{"task_id": "Hum']) + "\n")
    with pytest.raises(Exception, match="unfinished evaluation"):
        evaluate(EvalConfig(dataset="humaneval", out=out, samples=samples, ks=[1], sandbox=FAST))
    summary = evaluate(EvalConfig(dataset="humaneval", out=out, samples=samples, ks=[1], sandbox=FAST, resume=True))
    assert summary["reused_results"] == 2 and summary["run"]["programs"] == 1 and summary["pass_at_k"]["pass@1"] == 1.0
    assert not (out / "results.partial.jsonl").exists()


def test_eval_imports_no_torch():
    code = "import sys, mtp_cli.eval, mtp_cli.problems; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_outcomes_are_labelled_in_results_and_summary(tmp_path):
    ref = load_problems("humaneval")["HumanEval/0"].reference
    rows = [{"task_id": "HumanEval/0", "completion": c} for c in (
        ref,
        "    return None\n",
        "    import sys\n    sys.exit(0)\n",  # runs when check() calls it: exits before the tests end
        "    import os\n    os._exit(0)\n",
        "    while True:\n        pass\n",
    )]
    out = tmp_path / "o"
    summary = evaluate(EvalConfig(dataset="humaneval", out=out, samples=write_jsonl(tmp_path / "s.jsonl", rows), ks=[1, 5], sandbox=SandboxConfig(timeout=1.0)))
    outcomes = [json.loads(line)["outcome"] for line in (out / "results.jsonl").read_text().splitlines()]
    assert outcomes == [
        "passed",
        "failed: AssertionError",
        "failed: exited before the tests finished (SystemExit: 0)",
        "failed: exited before the tests finished (exit status 0)",
        "timed out",
    ]
    assert summary["outcomes"] == {"failed": 3, "passed": 1, "timed out": 1}
    assert summary["failure_types"] == {"exited before the tests finished": 2, "AssertionError": 1}
    assert summary["pass_at_k"]["pass@1"] == pytest.approx(0.2) and summary["pass_at_k"]["pass@5"] == 1.0


def test_refuses_to_write_into_another_artifact(tmp_path):
    other = tmp_path / "tokenized"
    other.mkdir()
    (other / "manifest.json").write_text(json.dumps({"tool": "mtp", "kind": "tokenized"}))
    samples = write_jsonl(tmp_path / "s.jsonl", he_samples(range(1), 1, 0))
    for flags in ({}, {"overwrite": True}, {"resume": True}):
        with pytest.raises(Exception, match="another kind of mtp artifact"):
            evaluate(EvalConfig(dataset="humaneval", out=other, samples=samples, ks=[1], sandbox=FAST, **flags))
    assert (other / "manifest.json").exists()


def test_default_out_is_beside_the_samples(tmp_path):
    from mtp_cli.cli.eval import default_out

    assert default_out(tmp_path / "gen.jsonl", "mbpp") == tmp_path / "gen.eval-mbpp"
    assert default_out(None, "humaneval") == Path("eval-humaneval-reference")
    artifact = tmp_path / "samples-run"
    artifact.mkdir()
    (artifact / "manifest.json").write_text(json.dumps({"tool": "mtp", "kind": "samples"}))
    assert default_out(artifact / "samples.jsonl", "humaneval") == tmp_path / "samples-run.eval-humaneval"
    assert default_out(artifact, "humaneval") == tmp_path / "samples-run.eval-humaneval"


def test_a_second_eval_on_the_same_out_is_refused_naming_the_holder(tmp_path, capsys):
    samples = write_jsonl(tmp_path / "s.jsonl", he_samples(range(1), 1, 0))
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom mtp_cli.artifacts.folder_lock import acquire_folder_lock\n"
         f"with acquire_folder_lock({str(out)!r}, 'mtp eval'):\n    print('held', flush=True)\n    time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["eval", "pass@k", str(samples), "--dataset", "humaneval", "--out", str(out)]) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert f"{out} is in use by mtp eval (pid {holder.pid}); wait for it or use another --out" in err
    finally:
        holder.kill()
        holder.wait()
    # The kernel dropped the lock with its holder: the next run goes ahead and leaves no lock file.
    assert main(["eval", "pass@k", str(samples), "--dataset", "humaneval", "--out", str(out), "--k", "1"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "results.jsonl", "summary.json"]
