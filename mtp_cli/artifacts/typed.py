"""One conversion of a value to a config field's type, for recipes (YAML values), `--set FIELD=VALUE`
(text, read as YAML) and the options built from declarations: int, float, str, bool, Path,
list[...], dict, and their Optional forms, judged by the field's real type, never its spelling.

`where` names the value in errors: "recipe value train.steps", "--set dim".
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

from mtp_cli.artifacts.errors import MtpError


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(value: Any, tp: Any, where: str) -> Any:
    """`value` as the field type `tp` (int, float, str, bool, Path, list[...], Optional[...])."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        for option in (o for o in options if o is not type(None)):
            try:
                return coerce(value, option, where)
            except MtpError:
                continue
        raise MtpError(f"{where}={value!r} is not a {_type_name(tp)}")
    if origin in (list, tuple):
        (item,) = typing.get_args(tp)[:1] or (Any,)
        if not isinstance(value, (list, tuple)):
            value = [value]
        return [coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise MtpError(f"{where}={value!r} is not a mapping", "write it as key: value lines")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 3e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp in (str, Path):
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return tp(str(value))
    raise MtpError(f"{where}={value!r} is not a {_type_name(tp)}", "fix the recipe or the --set value")


def parse_text(raw: str, tp: Any, where: str) -> Any:
    """`raw` text (a --set value) read as YAML, then converted to `tp`: 3, 0.5, true, none, [1, 10], {a: 1}."""
    import yaml

    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str) and value.lower() == "none":
        value = None
    return coerce(value, tp, where)
