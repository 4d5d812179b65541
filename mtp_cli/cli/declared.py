"""Commands made from declared config fields (`mtp_cli.artifacts.options`): one typer parameter per
field, with the field's help, flags and default, so an option is written once, next to its field.

Every parameter defaults to None on the command line, meaning "not given": the command fills in the
config's own default (and `train --resume` keeps the stored run's value). Help shows the config's
default as `[default: ...]`. Booleans get `--x/--no-x`, so a resumed run can switch one off.
"""

from __future__ import annotations

import inspect
import types
import typing
from dataclasses import MISSING, Field
from typing import Any, Callable, List, Optional

import typer

from mtp_cli.artifacts.options import OptionSpec, declared_fields, field_default, flag_name


def _without_none(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        options = [o for o in typing.get_args(tp) if o is not type(None)]
        return options[0] if len(options) == 1 else str
    return tp


def cli_type(spec: OptionSpec, hint: Any) -> Any:
    """The type typer parses: the field's, Optional (None: not given); lists as List[item]."""
    tp = _without_none(spec.cli_type or hint)
    if typing.get_origin(tp) in (list, tuple, List):
        tp = List[typing.get_args(tp)[0]]  # type: ignore[valid-type]
    return Optional[tp]


def default_text(f: Field, spec: OptionSpec) -> str | None:
    if spec.default_text is not None:
        return spec.default_text
    default = field_default(f)
    if default is MISSING:
        return None
    if isinstance(default, bool):
        return ("" if default else "no-") + flag_name(f.name, spec)[2:]
    if isinstance(default, (list, tuple)):
        return ", ".join(map(str, default)) or "none"
    return "none" if default is None else str(default)


def parameter(f: Field, spec: OptionSpec, hint: Any) -> inspect.Parameter:
    text = default_text(f, spec)
    help_text = spec.help + (f"  [default: {text}]" if text is not None else "")
    required = field_default(f) is MISSING and spec.default_text is None  # else the command computes it
    if spec.argument:
        info = typer.Argument(... if required else None, help=help_text, metavar=spec.metavar, show_default=False)
    elif _without_none(hint) is bool and spec.cli_type is None:
        long = flag_name(f.name, spec)
        info = typer.Option(None, f"{long}/--no-{long[2:]}", *spec.flags, help=help_text, show_default=False)
    else:
        info = typer.Option(... if required else None, flag_name(f.name, spec), *spec.flags, help=help_text,
                            metavar=spec.metavar, show_default=False)
    annotation = cli_type(spec, hint) if not required else _without_none(spec.cli_type or hint)
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)


def extra(name: str, annotation: Any, info: Any) -> inspect.Parameter:
    """A parameter that is not a config field (how to show progress, whether to resume)."""
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)


def given_values(sections: dict[str, type], values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The options given on the command line, per section, converted by their declared `parse`."""
    given: dict[str, dict[str, Any]] = {section: {} for section in sections}
    for section, cls in sections.items():
        for f, spec in declared_fields(cls):
            value = values.get(f.name)
            if value is None or (isinstance(value, (list, tuple)) and not value and not spec.argument):
                continue
            given[section][f.name] = spec.parse(value) if spec.parse else value
    return given


def build_command(
    name: str,
    sections: dict[str, type],
    run: Callable[..., Any],
    doc: str,
    extras: list[inspect.Parameter] = (),  # type: ignore[assignment]
) -> Callable[..., Any]:
    """A typer command whose parameters are the declared fields of each section's dataclass (in
    order) and `extras`; it calls `run(given, **extras)` with `given[section]` the options given."""
    params: list[inspect.Parameter] = []
    for cls in sections.values():
        hints = typing.get_type_hints(cls)
        params += [parameter(f, spec, hints[f.name]) for f, spec in declared_fields(cls)]
    params += list(extras)
    names = [p.name for p in params]
    if len(set(names)) != len(names):
        raise ValueError(f"{name}: a parameter is declared twice: {sorted(n for n in names if names.count(n) > 1)}")
    extra_names = {p.name for p in extras}

    def command(**values: Any) -> Any:
        return run(given_values(sections, values), **{k: v for k, v in values.items() if k in extra_names})

    command.__name__ = name
    command.__doc__ = doc
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    return command
