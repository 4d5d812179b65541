"""The `mtp` command: one table of commands; each command parses, calls a step, and reports.

User errors (MtpError) and usage errors print one line and a hint on stderr and exit with code 2;
Ctrl-C says that nothing half-written was left and exits 130. Anything else is a bug: it prints a
short line, or the full traceback when MTP_DEBUG=1. `mtp_cli/cli/usage.py` says why usage errors
and Ctrl-C are caught here rather than left to typer.
"""

from __future__ import annotations

import os
import sys

import typer

from mtp_cli import __version__
from mtp_cli.artifacts import MtpError
from mtp_cli.cli import eval as eval_cli
from mtp_cli.cli import generate, info, interop, pipeline, report, synth, tokenize, train
from mtp_cli.cli.console import err_console
from mtp_cli.cli.usage import ABORTS, CLICK_ERRORS, EXITS, error_lines, help_when_bare, metavars_only

app = typer.Typer(
    name="mtp",
    help="Multi-token prediction: tokenize a code corpus, train, generate, and measure pass@k.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: "[default: ...]" in a help text stays text, not markup
    context_settings={"help_option_names": ["--help", "-h"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mtp {__version__}")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, help="Print mtp's version and exit."),
) -> None:
    help_when_bare(ctx)


# The command table.
app.command("tokenize")(tokenize.tokenize)
app.command("train")(train.train)
app.command("info")(info.info)
app.command("generate")(generate.generate)
app.add_typer(eval_cli.app, name="eval")
app.add_typer(pipeline.app, name="pipeline")
app.command("report")(report.report)
app.command("import")(interop.import_command)
app.command("export")(interop.export_command)
app.add_typer(synth.app, name="synth")


def _error(message: str, hint: str | None) -> int:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)
    if hint:
        err_console.print(f"[yellow]hint:[/] {hint}", highlight=False, soft_wrap=True)
    return 2


def _interrupted() -> int:
    err_console.print("[yellow]interrupted[/]: nothing half-written was left behind")
    return 130


def main(argv: list[str] | None = None) -> int:
    command = metavars_only(typer.main.get_command(app))
    args = train.spell_resume_auto(sys.argv[1:] if argv is None else list(argv))
    try:
        with command.make_context("mtp", args) as ctx:
            result = command.invoke(ctx)
        return result if isinstance(result, int) else 0
    except MtpError as e:
        return _error(e.message, e.hint)
    except EXITS as e:
        return e.exit_code
    except (KeyboardInterrupt, *ABORTS):
        return _interrupted()
    except CLICK_ERRORS as e:
        _error(*error_lines(e, command, args))
        return e.exit_code
    except Exception as e:  # a bug: keep the traceback behind MTP_DEBUG
        if os.environ.get("MTP_DEBUG"):
            raise
        err_console.print(f"[bold red]internal error:[/] {type(e).__name__}: {e}", highlight=False)
        err_console.print("[yellow]hint:[/] rerun with MTP_DEBUG=1 for the traceback, and report it")
        return 1


if __name__ == "__main__":
    sys.exit(main())
