"""Each architecture built, saved and imported once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from hf_models import ARCHITECTURES, build_hf_model
from mtp_cli.interop import import_model


@pytest.fixture(scope="session", params=sorted(ARCHITECTURES))
def hf_model(request, tmp_path_factory):
    """(architecture name, the transformers model, its saved folder, the imported checkpoint folder)."""
    root = tmp_path_factory.mktemp(request.param)
    model = build_hf_model(request.param, root / "hf")
    import_model(root / "hf", root / "ckpt")
    return request.param, model, root / "hf", root / "ckpt"


@pytest.fixture(scope="session")
def stdlib_json_dir() -> str:
    from mtp_cli.tokenize.sources import stdlib_root

    return str(stdlib_root() / "json")
