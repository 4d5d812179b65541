"""Every package (and the shipped data) is declared, so a wheel install has everything an editable one has."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def declared() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_is_listed():
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "mtp_cli").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    listed = set(declared()["packages"])
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert "mtp_cli.tokenizer_assets" in listed


def test_shipped_tokenizer_is_package_data():
    setuptools = declared()
    assert setuptools["package-dir"]["mtp_cli.tokenizer_assets"] == "tokenizer_assets"
    patterns = setuptools["package-data"]["mtp_cli.tokenizer_assets"]
    assert any(Path("code-bpe-32k/tokenizer.json").match(p) for p in patterns)
