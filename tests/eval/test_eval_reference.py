"""The harness self-check: every dataset reference solution passes in the sandbox."""

from __future__ import annotations

import json

from mtp_cli.artifacts import read_manifest
from mtp_cli.eval import EvalConfig, SandboxConfig, evaluate

# Known exceptions, each with its reason: none. (MBPP/123, amicable numbers below 9999, needs about
# 6.5 s here: it passes within MBPP's default 10 s timeout, and only fails with --timeout below that.)
MBPP_REFERENCE_FAILURES: dict[str, str] = {}


def test_humaneval_reference_is_164_of_164(tmp_path):
    out = tmp_path / "he"
    summary = evaluate(EvalConfig(dataset="humaneval", out=out, reference=True, ks=[1]))
    assert summary["pass_at_k"] == {"pass@1": 1.0}
    assert summary["outcomes"] == {"passed": 164} and summary["samples"] == 164
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["task_id"] for r in rows] == [f"HumanEval/{i}" for i in range(164)]
    assert set(rows[0]) == {"task_id", "completion", "result", "sample", "passed", "outcome", "seconds", "cpu_seconds", "completion_sha256"}
    manifest = read_manifest(out, "eval")
    assert manifest["pass_at_k"] == {"pass@1": 1.0}
    assert manifest["dataset"]["prompt_format"] == "humaneval-0shot-v1"
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "results.jsonl", "summary.json"]


def test_mbpp_reference_passes_on_the_test_split(tmp_path):
    # A generous timeout: the machine is shared, and this checks the harness, not the speed.
    summary = evaluate(
        EvalConfig(dataset="mbpp", out=tmp_path / "mbpp", reference=True, ks=[1], sandbox=SandboxConfig(timeout=30.0))
    )
    rows = [json.loads(line) for line in (tmp_path / "mbpp" / "results.jsonl").read_text().splitlines()]
    failed = {r["task_id"]: r["outcome"] for r in rows if not r["passed"]}
    assert set(failed) == set(MBPP_REFERENCE_FAILURES), failed
    assert summary["samples"] == 500
    assert summary["pass_at_k"]["pass@1"] == (500 - len(MBPP_REFERENCE_FAILURES)) / 500
    assert summary["dataset"]["prompt_format"] == "mbpp-3shot-begin-done-v1"
