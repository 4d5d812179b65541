"""Names say which step they belong to, shared helpers are written once, and bench scripts run as
plain scripts (none shadows a standard-library module, so none edits sys.path)."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mtp_cli"
STEPS = {"tokenize", "train", "generate", "eval", "pipeline", "report"}


def top_level_definitions() -> dict[str, list[str]]:
    """Function and class name -> the modules that define it at their top level."""
    found = defaultdict(list)
    for path in PACKAGE.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                found[node.name].append(str(path.relative_to(ROOT)))
    return found


def test_shared_helpers_are_written_once():
    defined = top_level_definitions()
    for name in ("default_workers", "kill_uid", "plural", "byte_level_alphabet"):
        assert len(defined[name]) == 1, (name, defined[name])
    assert not defined["_plural"] and not defined["_kill_uid"] and not defined["_byte_level_table"]
    byte_tables = [p for p in PACKAGE.rglob("*.py") if 'ord("¡")' in p.read_text()]
    assert len(byte_tables) == 1, byte_tables  # GPT-2's printable stand-ins for bytes, spelled once


def test_names_do_not_collide_across_steps():
    defined = top_level_definitions()
    for name in ("Launcher", "Sample", "read_samples", "evaluate"):
        assert len(defined[name]) <= 1, (name, defined[name])
    modules = defaultdict(list)
    for path in PACKAGE.rglob("*.py"):
        modules[path.stem].append(path.parent.name)
    for step in STEPS:  # no module of one step is named after another step
        assert all(folder in (step, "cli") for folder in modules.get(step, [])), (step, modules[step])
    assert len(modules["evaluate"]) <= 1, modules["evaluate"]


def test_bench_scripts_shadow_no_standard_library_module():
    for script in (ROOT / "bench").glob("*.py"):
        assert script.stem not in sys.stdlib_module_names, script.name
        assert "sys.path" not in script.read_text(), f"{script.name} edits sys.path"
