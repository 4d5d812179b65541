"""Usage errors, Ctrl-C and bare groups, the same on every typer the project allows.

Older typers run on click and raise click's exceptions; newer ones (0.29) bundle their own copy of
click, whose exceptions are not `click.ClickException`, and turn Ctrl-C into `Exit(130)` before a
caller can tell it from a command's own exit status. So `main` invokes the command itself (Ctrl-C
arrives as KeyboardInterrupt) and recognizes usage errors by the classes of the click that typer
actually runs: the bases of `typer.BadParameter`, which every version exports.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

import typer


def _click_classes(name: str, anchor: type) -> tuple[type[BaseException], ...]:
    """The class called `name` of the click typer runs on (found from `anchor`), and of click itself."""
    found: list[type[BaseException]] = []
    for cls in anchor.__mro__:
        if cls.__name__ == name:
            found.append(cls)
    try:
        import click.exceptions

        found.append(getattr(click.exceptions, name))
    except (ImportError, AttributeError):  # newer typers need no click installed
        pass
    return tuple(dict.fromkeys(found))


CLICK_ERRORS = _click_classes("ClickException", typer.BadParameter)
EXITS = (typer.Exit, *_click_classes("Exit", typer.Exit))
ABORTS = (typer.Abort, *_click_classes("Abort", typer.Abort))


def command_path(root: Any, args: list[str]) -> str:
    """'mtp eval pass@k' for args starting with eval pass@k: the commands named before any option."""
    path, command = ["mtp"], root
    for arg in args:
        command = getattr(command, "commands", {}).get(arg)
        if command is None:
            break
        path.append(arg)
    return " ".join(path)


def error_lines(error: Any, root: Any, args: list[str]) -> tuple[str, str]:
    """Click's one-line message for a usage error, and its hint (where to find the command's help)."""
    message = " ".join(error.format_message().split())
    ctx = getattr(error, "ctx", None)  # some parser errors carry none
    unknown = re.match(r"No such command '(.+?)'", message)
    if ctx is not None and unknown and "Did you mean" not in message:
        close = difflib.get_close_matches(unknown.group(1), ctx.command.list_commands(ctx), n=1)
        message += f" Did you mean '{close[0]}'?" if close else ""
    path = ctx.command_path if ctx is not None else command_path(root, args)
    return message, f"Try '{path} --help' for help."


def metavars_only(command: Any) -> Any:
    """Typer 0.29's help writes an argument's Python type beside its metavar (`PATHS... <list[Path]>`):
    where the command gave a metavar, show that alone."""
    for param in getattr(command, "params", []):
        if param.param_type_name == "argument" and param.metavar and hasattr(param, "display_type_rich"):
            param.display_type_rich = lambda ctx: None
    for sub in getattr(command, "commands", {}).values():
        metavars_only(sub)
    return command


def help_when_bare(ctx: typer.Context) -> None:
    """A group called without a command shows its help and exits 2, as click >= 8.2 does everywhere."""
    if ctx.invoked_subcommand is None:
        text = ctx.get_help()  # typer's rich help prints itself and returns ""
        if text:
            typer.echo(text)
        raise typer.Exit(2)
