"""Usage mistakes: exit code 2, click's one-line message naming the option or command, and a hint.

This file imports nothing but the CLI (no torch, no fixtures), so CI runs it a second time in a
virtual environment with the oldest typer that pyproject.toml allows (.ci/run); MTP_EXPECT_TYPER
then names that version, so the second run cannot silently test the newest one again.
"""

from __future__ import annotations

import os
import re

import pytest
import typer

from mtp_cli import __version__
from mtp_cli.cli import main

MISTAKES = [
    (["train"], "data"),  # no arguments at all
    (["train", "d", "--out", "r", "--steps", "1.5"], "--steps"),
    (["train", "d", "--out", "r", "--lr", "fast"], "--lr"),
    (["train", "d", "--out", "r", "--heads"], "--heads"),  # an option without its value
    (["tokenize"], "--out"),
    (["tokenize", "--vocab", "100", "--out", "d"], "--vocab"),
    (["tokenize", "--seq-len", "abc", "--out", "d"], "--seq-len"),
    (["tokenize", "--out", "d", "--threads", "2"], "--threads"),
    (["tokenise", "--out", "d"], "tokenise"),
    (["generate"], "checkpoint"),
    (["generate", "run", "--out", "s.jsonl", "--batch-size", "x"], "--batch-size"),
    (["generate", "run", "--out"], "--out"),
    (["eval", "pass@k", "x.jsonl", "--problems"], "--problems"),
    (["eval", "pass@k", "x.jsonl", "-d", "humaneval", "--workers"], "--workers"),
    (["eval", "passk", "x.jsonl"], "passk"),
    (["pipeline", "run"], "recipe"),
    (["pipeline", "sprint", "x.yaml"], "sprint"),
    (["info"], "path"),
    (["report", "r", "--out"], "--out"),
    (["--verbose", "train"], "--verbose"),
]


@pytest.mark.parametrize("args, named", MISTAKES, ids=[" ".join(args) for args, _ in MISTAKES])
def test_a_usage_mistake_is_one_line_and_exit_2(args, named, capsys):
    assert main(args) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith("error: ") and named.lower() in lines[0].lower(), lines[0]
    assert lines[1].startswith("hint: Try 'mtp") and "--help" in lines[1]
    assert "internal error" not in err and "Traceback" not in err and out == ""


def test_a_misspelled_command_gets_a_suggestion(capsys):
    assert main(["tokenise"]) == 2
    assert "Did you mean 'tokenize'?" in capsys.readouterr().err


@pytest.mark.parametrize("args", [[], ["eval"], ["pipeline"]])
def test_a_bare_group_shows_its_help_and_exits_2(args, capsys):
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert "Usage: mtp" in out and "Commands" in out and "error" not in err


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_flags(flag, capsys):
    assert main([flag]) == 0
    assert "Usage: mtp" in capsys.readouterr().out
    assert main(["train", flag]) == 0
    out = capsys.readouterr().out
    assert "Usage: mtp train" in out and "Example:" in out


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"mtp {__version__}"


def test_the_typer_under_test_is_the_one_ci_asked_for():
    expected = os.environ.get("MTP_EXPECT_TYPER")
    if expected is None:
        pytest.skip("MTP_EXPECT_TYPER is set only by .ci/run's run with the oldest typer")
    assert typer.__version__ == expected


COMMANDS = [["tokenize"], ["train"], ["info"], ["generate"], ["report"], ["eval", "pass@k"], ["pipeline", "run"], ["pipeline", "check"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_has_an_example_one_default_style_and_no_type_names(command, capsys):
    assert main([*command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"Example: mtp {' '.join(command)} " in text
    assert not re.search(r"\s\.(\s|$)", text), "a swallowed marker left a stray ' .'"
    assert "(default:" not in text and "<list" not in text and "<bool>" not in text


def test_defaults_written_in_help_texts_are_shown(capsys):
    assert main(["generate", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Sampling temperature. [default: 1.0 for sample, 0 (greedy) for speculative]" in text
    assert "[default: all]" in text and "[default: 1]" in text
    assert main(["eval", "pass@k", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "samples folder written by" not in text and "as `mtp generate` writes it" in text
