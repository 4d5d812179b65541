"""pipelines/add-heads.yaml end to end on a tiny local model: import, tokenize with its tokenizer,
train draft heads on the frozen model, greedy and speculative HumanEval with pass@1, report."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from hf_models import build_hf_model
from mtp_cli.model.checkpoint import read_weights
from mtp_cli.pipeline import build_pipeline, load_recipe_file, run_pipeline

RECIPE = Path(__file__).resolve().parents[2] / "pipelines" / "add-heads.yaml"


def test_add_heads_recipe_runs_end_to_end(tmp_path, stdlib_json_dir):
    build_hf_model("qwen2-biases", tmp_path / "model", max_position_embeddings=1024)  # HumanEval prompts in bytes
    settings = [
        f"import.src={tmp_path / 'model'}", f"tokenize.sources=[{stdlib_json_dir}]", "tokenize.seq_len=64",
        "train.steps=4", "train.batch_tokens=256", "train.micro_batch=2", "train.warmup=1", "train.eval_every=2",
        "train.eval_tokens=256", "train.save_every=4", "generate.greedy.limit=3", "generate.speculative.limit=3",
        "generate.greedy.max_new_tokens=24", "generate.speculative.max_new_tokens=24",
    ]
    out = tmp_path / "out"
    spec = build_pipeline(load_recipe_file(RECIPE, settings), out)
    result = run_pipeline(spec)
    assert [s.step for s in result.steps][:3] == ["import", "tokenize", "train/drafts"]
    imported = read_weights(out / "imported")
    latest = out / "runs" / "drafts" / "checkpoints" / (out / "runs" / "drafts" / "checkpoints" / "latest").read_text().strip()
    trained = read_weights(latest)
    assert all(torch.equal(trained[n], t) for n, t in imported.items())  # the frozen model is the imported one
    samples = {mode: [json.loads(line) for line in (out / "samples" / "drafts" / f"{mode}.jsonl").read_text().splitlines()] for mode in ("greedy", "speculative")}
    assert [s["completion"] for s in samples["greedy"]] == [s["completion"] for s in samples["speculative"]]
    summary = json.loads((out / "eval" / "drafts" / "speculative" / "summary.json").read_text())
    assert "pass@1" in json.dumps(summary)
    assert (out / "report" / "summary.md").is_file()
    rerun = run_pipeline(build_pipeline(load_recipe_file(RECIPE, settings), out))
    assert all(s.status == "skipped" for s in rerun.steps)
