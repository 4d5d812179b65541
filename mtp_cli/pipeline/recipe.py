"""Recipes: YAML files whose sections are the steps' own config dataclasses.

Every key is checked against the dataclass fields and every value against the field's type before
anything runs, so a typo fails in a second with the key named, not an hour into training.
`--set section.key=value` overrides any field (the value is read as YAML: 3, 0.5, true, [1, 10]).
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import yaml

from mtp_cli.artifacts import MtpError
from mtp_cli.artifacts.typed import coerce


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
    kwargs = {key: coerce(value, hints[key], f"recipe value {section}.{key}") for key, value in values.items()}
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
