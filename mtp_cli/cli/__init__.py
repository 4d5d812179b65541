"""The `mtp` command: one table of commands; each command parses, calls a step, and reports.

User errors (MtpError) print one line and a hint on stderr and exit with code 2. Anything else is a
bug: it prints a short line, or the full traceback when MTP_DEBUG=1.
"""

from __future__ import annotations

import os
import sys

import click
import typer

from mtp_cli.artifacts import MtpError
from mtp_cli.cli import eval as eval_cli
from mtp_cli.cli import generate, info, interop, pipeline, report, synth, tokenize, train
from mtp_cli.cli.console import err_console

app = typer.Typer(
    name="mtp",
    help="Multi-token prediction: tokenize a code corpus, train, generate, and measure pass@k.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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


def main(argv: list[str] | None = None) -> int:
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="mtp", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except MtpError as e:
        err_console.print(f"[bold red]error:[/] {e.message}", highlight=False, soft_wrap=True)
        if e.hint:
            err_console.print(f"[yellow]hint:[/] {e.hint}", highlight=False, soft_wrap=True)
        return 2
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        err_console.print("[yellow]interrupted[/]: nothing half-written was left behind")
        return 130
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: nothing half-written was left behind")
        return 130
    except click.ClickException as e:
        e.show()
        return 2
    except Exception as e:  # a bug: keep the traceback behind MTP_DEBUG
        if os.environ.get("MTP_DEBUG"):
            raise
        err_console.print(f"[bold red]internal error:[/] {type(e).__name__}: {e}", highlight=False)
        err_console.print("[yellow]hint:[/] rerun with MTP_DEBUG=1 for the traceback, and report it")
        return 1


if __name__ == "__main__":
    sys.exit(main())
