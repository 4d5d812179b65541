"""Options declared once, next to their config field: its help, its flags, its default's text.

A step's config dataclass declares each user-facing field with `option(...)`; the command line is
built from those declarations (`mtp_cli.cli.declared`), and recipes read the same fields, so an
option has one spelling, one help text and one default everywhere:

    steps: int | None = option(None, "Optimizer steps.", default_text="one pass over the train split")
    fsdp: bool = option(False, "Shard weights ... (FSDP2).")          # --fsdp/--no-fsdp
    out: Path = option(help="Run folder.", flags=("-o",))             # required: no default

Adding an option to a command is adding one such field. This module knows nothing of typer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING, dataclass
from typing import Any, Callable

from mtp_cli.artifacts.errors import MtpError


@dataclass(frozen=True)
class OptionSpec:
    help: str
    flags: tuple[str, ...] = ()  # more names, e.g. ("-o",)
    name: str | None = None  # the long flag when it is not --field-name, e.g. "--compile"
    metavar: str | None = None
    argument: bool = False  # positional
    default_text: str | None = None  # the default as help shows it, when the field's own says little (None)
    parse: Callable[[Any], Any] | None = None  # the command line's value (text) -> the field's value
    cli_type: Any = None  # the command line's type when it differs from the field's (with `parse`)


def option(default: Any = MISSING, help: str = "", *, default_factory: Any = MISSING, **spec: Any) -> Any:
    """A dataclass field that the command line offers as an option (or an argument)."""
    metadata = {"cli": OptionSpec(help=help, **spec)}
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def declared_fields(cls: type) -> list[tuple[dataclasses.Field, OptionSpec]]:
    """The fields of `cls` declared with `option`, in declaration order."""
    return [(f, f.metadata["cli"]) for f in dataclasses.fields(cls) if "cli" in f.metadata]


def flag_name(field_name: str, spec: OptionSpec) -> str:
    return spec.name or "--" + field_name.replace("_", "-")


def field_default(f: dataclasses.Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return MISSING


def parse_list(text: str, item: type, flag: str, example: str) -> list:
    """'1,0.5,0.5' as a list of `item`: the command line's spelling of a list option."""
    try:
        return [item(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        noun = {int: "integers", float: "numbers"}.get(item, item.__name__)
        raise MtpError(f"{flag} {text!r} is not a list of {noun}", f"a comma-separated list, e.g. {flag} {example}") from None
