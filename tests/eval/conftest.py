"""Fixtures of the eval tests: one warm sandbox launcher with short limits, shared by a module."""

from __future__ import annotations

import pytest

from eval_helpers import HOSTILE
from mtp_cli.eval import Launcher


@pytest.fixture(scope="module")
def launcher():
    with Launcher(HOSTILE) as launcher:
        yield launcher
