"""Each architecture built, saved and imported at most once per test session, whatever the test order
(the suite runs shuffled: a parametrized session fixture would be rebuilt at every switch)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hf_models import Memo, build_hf_model
from mtp_cli.interop import import_model


@dataclass
class HFModel:
    name: str
    reference: Any  # the transformers model
    folder: Path  # its save_pretrained folder
    checkpoint: Path  # what mtp import made of it


@pytest.fixture(scope="session")
def hf_models(tmp_path_factory) -> Memo:
    def make(name: str) -> HFModel:
        root = tmp_path_factory.mktemp(name)
        reference = build_hf_model(name, root / "hf")
        import_model(root / "hf", root / "ckpt")
        return HFModel(name, reference, root / "hf", root / "ckpt")

    return Memo(make)


@pytest.fixture(scope="session")
def stdlib_json_dir() -> str:
    from mtp_cli.tokenize.sources import stdlib_root

    return str(stdlib_root() / "json")
