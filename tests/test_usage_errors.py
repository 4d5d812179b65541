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


DECLARED = [["train"], ["generate"], ["tokenize"], ["eval", "pass@k"], ["eval", "exact"], ["synth", "polynomials"], ["synth", "induction"]]


def _command(path: list[str]):
    import typer.main

    from mtp_cli.cli import app

    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


@pytest.mark.parametrize("path", DECLARED, ids=" ".join)
def test_help_shows_every_default_and_every_boolean_has_a_no_form(path, capsys):
    command = _command(path)
    for param in command.params:
        if param.name == "help" or getattr(param, "hidden", False):
            continue
        assert param.required or "[default: " in (param.help or ""), f"{param.name}: {param.help!r}"
        if getattr(param, "is_flag", False) and not param.hidden:
            assert param.secondary_opts, f"--{param.name} has no --no- form"
    assert main([*path, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert not re.search(r"[a-z] \.( |$)", text) and "[default: ]" not in text  # no "values ." with the default lost
    shown = [p for p in command.params if p.name != "help" and not p.required and not getattr(p, "hidden", False)]
    assert text.count("[default: ") == len(shown)


@pytest.mark.parametrize("path", DECLARED, ids=" ".join)
def test_each_option_is_its_config_fields_declaration(path):
    """The command's options are the declared fields (plus --log-every, and train's --resume), with the
    declaration's help: nothing is written a second time in the command."""
    from mtp_cli.artifacts.options import declared_fields
    from mtp_cli.eval.config import EvalConfig
    from mtp_cli.eval.exact import ExactConfig
    from mtp_cli.eval.sandbox import SandboxConfig
    from mtp_cli.generate.config import GenerateConfig
    from mtp_cli.model.config import ModelConfig
    from mtp_cli.synth.write import InductionSettings, PolynomialSettings
    from mtp_cli.tokenize.config import TokenizeConfig
    from mtp_cli.train.config import TrainConfig

    classes = {"train": [TrainConfig, ModelConfig], "generate": [GenerateConfig], "tokenize": [TokenizeConfig],
               "pass@k": [EvalConfig, SandboxConfig], "exact": [ExactConfig], "polynomials": [PolynomialSettings],
               "induction": [InductionSettings]}[path[-1]]
    declared = {f.name: spec for cls in classes for f, spec in declared_fields(cls)}
    params = {p.name: p for p in _command(path).params if p.name != "help"}
    extras = {"train": {"log_every", "resume", "resume_auto"}, "exact": set(), "polynomials": set(), "induction": set()}.get(path[-1], {"log_every"})
    assert set(params) == set(declared) | extras
    for name, spec in declared.items():
        assert params[name].help.startswith(spec.help), name


def test_every_boolean_of_every_command_has_a_no_form():
    import typer.main

    from mtp_cli.cli import app

    def flags(command, path):
        for name, sub in getattr(command, "commands", {}).items():
            yield from flags(sub, f"{path} {name}")
        for param in command.params:
            if getattr(param, "is_flag", False) and param.name not in ("help", "version") and not param.hidden:
                yield path, param

    found = list(flags(typer.main.get_command(app), "mtp"))
    assert len(found) >= 20
    assert [(path, p.opts) for path, p in found if not p.secondary_opts] == []
