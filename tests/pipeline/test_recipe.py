"""Recipes are validated against the steps' dataclasses before anything runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mtp_cli.artifacts import MtpError
from mtp_cli.pipeline.recipe import apply_override, build_section, load_recipe_file
from mtp_cli.tokenize import TokenizeConfig


def test_section_becomes_the_steps_config(tmp_path):
    cfg = build_section(TokenizeConfig, {"tokenizer": "bytes", "seq_len": 64, "val_fraction": 0, "include": "*.py"},
                        "tokenize", fixed={"out": tmp_path})
    assert cfg == TokenizeConfig(out=tmp_path, tokenizer="bytes", seq_len=64, val_fraction=0.0, include=["*.py"])


@pytest.mark.parametrize(
    "values, message",
    [
        ({"seq_lenn": 64}, "unknown recipe key 'tokenize.seq_lenn'"),
        ({"out": "x"}, "unknown recipe key 'tokenize.out'"),  # set by the pipeline, not the recipe
        ({"seq_len": "long"}, "tokenize.seq_len='long' is not a int"),
        ({"seq_len": True}, "is not a int"),
        ({"val_fraction": "a lot"}, "is not a float"),
        ({"vocab_size": [1]}, "tokenize.vocab_size"),
    ],
)
def test_bad_keys_and_values_are_named(tmp_path, values, message):
    with pytest.raises(MtpError, match=message.replace("[", r"\[").replace("(", r"\(")):
        build_section(TokenizeConfig, values, "tokenize", fixed={"out": tmp_path})


def test_overrides_are_read_as_yaml(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("# a recipe\ntokenize:\n  seq_len: 64\n")
    recipe = load_recipe_file(path, ["tokenize.seq_len=128", "train.heads=4", "eval.k=[1, 10]", "tokenize.tokenizer=bytes"])
    assert recipe == {"tokenize": {"seq_len": 128, "tokenizer": "bytes"}, "train": {"heads": 4}, "eval": {"k": [1, 10]}}


@pytest.mark.parametrize("assignment", ["steps=3", "train.steps"])
def test_malformed_override(assignment):
    with pytest.raises(MtpError, match="SECTION.KEY=VALUE"):
        apply_override({}, assignment)


def test_bad_recipe_files(tmp_path):
    with pytest.raises(MtpError, match="does not exist"):
        load_recipe_file(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tokenize:\n  seq_len: [1,\n")
    with pytest.raises(MtpError, match="not valid YAML"):
        load_recipe_file(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(MtpError, match="mapping"):
        load_recipe_file(Path(listy))


@dataclass
class Example:
    overrides: dict[str, Any] = field(default_factory=dict)
    betas: tuple[float, float] = (0.9, 0.95)


def test_mappings_and_tuples():
    cfg = build_section(Example, {"overrides": {"dim": 64}, "betas": [0.8, 0.9]}, "train")
    assert cfg.overrides == {"dim": 64} and list(cfg.betas) == [0.8, 0.9]
    with pytest.raises(MtpError, match="is not a mapping"):
        build_section(Example, {"overrides": 3}, "train")
