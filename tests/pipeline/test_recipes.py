"""Every shipped recipe is valid; a bad recipe is refused before anything runs, naming the key."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mtp_cli.artifacts import MtpError
from mtp_cli.cli import main
from mtp_cli.pipeline import build_pipeline, load_recipe_file

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"
SHIPPED = sorted(PIPELINES.glob("*.yaml"))
MINIMAL = "tokenize: {tokenizer: bytes, seq_len: 64}\ntrain: {preset: tiny, heads: 2, steps: 2}\n"


def test_the_expected_recipes_ship():
    names = {path.stem for path in SHIPPED}
    assert {"quickstart", "bytes-quickstart", "compare-heads", "gpu-small", "paper-7b-code", "add-heads", "polynomials", "induction", "polynomials-heads"} <= names


def command_line_settings(recipe: Path, tmp_path: Path) -> list[str]:
    """A recipe that imports a model is given the model's folder on the command line."""
    return [f"import.src={tmp_path}"] if "\nimport:" in recipe.read_text() else []


@pytest.mark.parametrize("recipe", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_recipe_validates(recipe, tmp_path):
    spec = build_pipeline(load_recipe_file(recipe, command_line_settings(recipe, tmp_path)), tmp_path / "out")
    assert spec.runs and spec.generations
    lines = recipe.read_text().splitlines()
    header = lines[: next(i for i, line in enumerate(lines) if not line.startswith("#"))]
    assert len(header) >= 5, "a recipe opens with a comment header"
    text = "\n".join(header).lower()
    assert "hardware" in text and "time" in text, "the header says on what hardware and how long"


def test_bytes_quickstart_trains_eight_heads_on_bytes(tmp_path):
    spec = build_pipeline(load_recipe_file(PIPELINES / "bytes-quickstart.yaml"), tmp_path)
    assert spec.tokenize.tokenizer == "bytes" and spec.runs["model"].heads == 8


def test_compare_heads_trains_one_and_four_heads_at_equal_tokens(tmp_path):
    spec = build_pipeline(load_recipe_file(PIPELINES / "compare-heads.yaml"), tmp_path)
    heads = sorted(run.heads for run in spec.runs.values())
    assert heads == [1, 4]
    budgets = {(run.steps, run.tokens, run.batch_tokens, run.preset) for run in spec.runs.values()}
    assert len(budgets) == 1


def test_polynomials_heads_compares_head_types_and_windows_at_one_size(tmp_path):
    spec = build_pipeline(load_recipe_file(PIPELINES / "polynomials-heads.yaml"), tmp_path)
    shapes = {(run.heads, run.model_overrides.get("head_type", "transformer"), run.model_overrides.get("window_size", 0)) for run in spec.runs.values()}
    assert shapes == {(1, "transformer", 0), (4, "causal", 0), (4, "anticausal", 0), (1, "transformer", 4), (1, "transformer", 8), (1, "transformer", 16)}
    # The parallel n=4 run it compares with is polynomials.yaml's n4-seed0: the same data, model and steps.
    reference = build_pipeline(load_recipe_file(PIPELINES / "polynomials.yaml"), tmp_path / "reference")
    def settings(spec, run):
        config = spec.runs[run]
        return (config.model_overrides["dim"], config.model_overrides["n_layers"], config.steps, config.seed, config.batch_tokens, config.lr)
    assert {settings(spec, run) for run in spec.runs} == {settings(reference, "n4-seed0")}
    assert spec.synth.settings == replace(reference.synth.settings, out=spec.synth.settings.out)


def test_paper_recipe_is_the_published_7b_shape(tmp_path):
    spec = build_pipeline(load_recipe_file(PIPELINES / "paper-7b-code.yaml"), tmp_path)
    run = spec.runs["model"]
    assert run.preset == "7b" and run.heads == 4


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, named",
    [
        (MINIMAL + "trian: {steps: 3}\n", "unknown recipe section 'trian'"),
        (MINIMAL.replace("steps: 2", "stepz: 2"), "'train.stepz'"),
        (MINIMAL.replace("steps: 2", "steps: many"), "train.steps"),
        (MINIMAL + "generate: {g: {dataset: humaneval, modee: greedy}}\n", "'generate.g.modee'"),
        (MINIMAL + "generate: {g: {dataset: humaneval, mode: fast}}\n", "--mode 'fast'"),
        (MINIMAL + "generate: {g: {dataset: humaneval, mode: speculative, draft_heads: 3}}\n", "--draft-heads 3"),
        (MINIMAL.replace("heads: 2", "heads: 1") + "generate: {g: {dataset: humaneval, mode: speculative}}\n", "every run has 1 head"),
        (MINIMAL + "generate: {g: {prompt: 'def f():', mode: greedy}}\neval: {ks: [1]}\n", "cannot be evaluated"),
        (MINIMAL + "eval: {ks: [1]}\n", "nothing to evaluate"),
        (MINIMAL + "generate: {g: {dataset: humaneval}}\neval: {ks: [0]}\n", "eval.ks"),
        (MINIMAL + "runs: {n1: {heads: 1}, n4: {hedas: 4}}\n", "'runs.n4.hedas'"),
        (MINIMAL.replace("steps: 2", "steps: 2, model_overrides: {dimm: 64}"), "'train.model_overrides.dimm'"),
        (MINIMAL.replace("steps: 2", "steps: 2, data: elsewhere"), "'train.data'"),
        (MINIMAL.replace("seq_len: 64", "seq_len: -1"), "--seq-len must be positive"),
        ("train: {steps: 2}\n", "no 'tokenize' section"),
        ("import: {}\n" + MINIMAL, "'import' has no src"),
        ("synth: {task: sudoku}\n" + MINIMAL, "synth.task='sudoku'"),
        ("synth: {task: polynomials, train_problem: 5}\n" + MINIMAL, "'synth.train_problem'"),
        ("synth: {task: induction}\n" + MINIMAL.replace("tokenizer: bytes,", "tokenizer: bytes, sources: [x],"), "'tokenize.sources'"),
        ("import: {src: /nowhere/model}\n" + MINIMAL, "/nowhere/model is not a folder"),
        ("import: {src: .}\n" + MINIMAL, "'tokenize.tokenizer'"),  # the imported model's tokenizer is the pipeline's
        ("import: {src: .}\n" + MINIMAL.replace("tokenizer: bytes, ", "").replace("steps: 2", "steps: 2, init_from: x"), "'train.init_from'"),
        ("- just\n- a list\n", "must be a mapping"),
    ],
)
def test_a_bad_recipe_is_refused_naming_the_problem(tmp_path, text, named):
    with pytest.raises(MtpError) as refused:
        build_pipeline(load_recipe_file(write(tmp_path, text)), tmp_path / "out")
    assert named in refused.value.message


def test_set_overrides_are_checked_like_the_file(tmp_path):
    recipe = write(tmp_path, MINIMAL)
    spec = build_pipeline(load_recipe_file(recipe, ["train.steps=7", "train.lr=3e-4"]), tmp_path / "out")
    assert spec.runs["model"].steps == 7 and spec.runs["model"].lr == pytest.approx(3e-4)
    with pytest.raises(MtpError, match="train.heads"):
        build_pipeline(load_recipe_file(recipe, ["train.heads=two"]), tmp_path / "out")


def test_the_cli_refuses_a_bad_recipe_with_one_line_and_runs_nothing(tmp_path, capsys):
    recipe = write(tmp_path, MINIMAL.replace("steps: 2", "stepz: 2"))
    out = tmp_path / "out"
    assert main(["pipeline", "run", str(recipe), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unknown recipe key 'train.stepz'" in err and "Traceback" not in err
    assert not out.exists()
    assert main(["pipeline", "check", str(write(tmp_path, MINIMAL))]) == 0
    assert "valid" in capsys.readouterr().out
