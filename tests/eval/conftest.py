"""Fixtures of the eval tests: one warm sandbox launcher with short limits, shared by a module."""

from __future__ import annotations

import pytest

from eval_helpers import HOSTILE, namespaced
from mtp_cli.eval import Launcher


@pytest.fixture(scope="module")
def launcher():
    with Launcher(HOSTILE) as launcher:
        yield launcher


@pytest.fixture(scope="module")
def isolated(launcher):
    """The module's launcher, when this machine gives it namespaces (as root, or through a user
    namespace); the tests of what they contain are skipped, with the reason, where it does not."""
    if not namespaced(launcher):
        pytest.skip(f"no namespaces on this machine: {launcher.isolation['processes']}")
    return launcher
