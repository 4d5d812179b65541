"""`mtp info PATH`: show the manifest of any artifact mtp writes."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mtp_cli.artifacts import MANIFEST_NAME, SIDECAR_SUFFIX, MtpError, load_manifest_file, read_manifest, sidecar_path
from mtp_cli.cli.console import console, flatten, key_value_table


def find_manifest(path: Path) -> dict:
    """A folder's manifest.json, a manifest file itself, or the sidecar `FILE.manifest.json` of a file."""
    if path.is_dir():
        return read_manifest(path)
    if not path.exists():
        raise MtpError(f"{path} does not exist")
    if path.name == MANIFEST_NAME or path.name.endswith(SIDECAR_SUFFIX):
        return load_manifest_file(path)
    sidecar = sidecar_path(path)
    if sidecar.exists():
        return load_manifest_file(sidecar)
    raise MtpError(f"{path} has no manifest", f"expected {sidecar.name} beside it, or a folder written by mtp")


def info(
    path: Path = typer.Argument(..., help="An artifact folder, a manifest.json, or a file with a sidecar manifest."),
    as_json: bool = typer.Option(False, "--json/--no-json", help="Print the manifest as JSON instead of a table."),
) -> None:
    """Print the manifest of an artifact written by mtp.

    \b
    Example:
      mtp info runs/tiny-n4 --json
    """
    manifest = find_manifest(path)
    if as_json:
        print(json.dumps(manifest, indent=2))
        return
    title = f"{path}  ({manifest['kind']}, format {manifest.get('format_version')})"
    console.print(key_value_table(title, flatten(manifest)))
