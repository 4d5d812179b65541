"""Recipes: YAML files whose sections are the steps' own config dataclasses.

Every key is checked against the dataclass fields and every value against the field's type before
anything runs, so a typo fails in a second with the key named, not an hour into training.
`--set section.key=value` overrides any field (the value is read as YAML: 3, 0.5, true, [1, 10]).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from mtp_cli.artifacts import MtpError


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
        raise MtpError(f"recipe value {where}={value!r} is not a {_type_name(tp)}")
    if origin in (list, tuple):
        (item,) = typing.get_args(tp)[:1] or (Any,)
        if not isinstance(value, (list, tuple)):
            value = [value]
        return [coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise MtpError(f"recipe value {where}={value!r} is not a mapping", "write it as key: value lines")
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
    raise MtpError(f"recipe value {where}={value!r} is not a {_type_name(tp)}", "fix the recipe or the --set value")


def build_section(cls: type, values: dict[str, Any], section: str, fixed: dict[str, Any] | None = None) -> Any:
    """An instance of the dataclass `cls` from a recipe section; `fixed` fields are set by the pipeline."""
    fixed = fixed or {}
    if not isinstance(values, dict):
        raise MtpError(f"recipe section '{section}' must be a mapping of keys to values")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in fields or key in fixed:
            known = ", ".join(sorted(fields - set(fixed)))
            raise MtpError(f"unknown recipe key '{section}.{key}'", f"keys of '{section}': {known}")
    kwargs = {key: coerce(value, hints[key], f"{section}.{key}") for key, value in values.items()}
    try:
        return cls(**kwargs, **fixed)
    except TypeError as e:  # a required field is missing
        raise MtpError(f"recipe section '{section}' is incomplete: {e}") from None


def apply_override(recipe: dict[str, Any], assignment: str) -> None:
    """`section.key=value` (value parsed as YAML) into the raw recipe mapping."""
    if "=" not in assignment or "." not in assignment.split("=", 1)[0]:
        raise MtpError(f"--set {assignment!r} is not SECTION.KEY=VALUE", "for example --set train.steps=100")
    dotted, raw = assignment.split("=", 1)
    *path, key = dotted.split(".")
    node = recipe
    for part in path:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise MtpError(f"--set {dotted}: '{part}' is not a section")
    try:
        node[key] = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        node[key] = raw


def load_recipe_file(path: str | Path, overrides: list[str] = ()) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise MtpError(f"recipe {path} does not exist")
    try:
        recipe = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise MtpError(f"recipe {path} is not valid YAML{where}") from None
    if not isinstance(recipe, dict):
        raise MtpError(f"recipe {path} must be a mapping of sections")
    for assignment in overrides:
        apply_override(recipe, assignment)
    return recipe
