"""Package exports imported on first use, so that importing a step's config (what the command line
is built from) does not import torch, numpy or tokenizers: `mtp --help` and `mtp eval` start fast."""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, modules: dict[str, str]) -> tuple[Callable[[str], Any], list[str]]:
    """A module `__getattr__` (PEP 562) for `package` and its `__all__`, from each submodule's
    space-separated exported names: {"config": "TrainConfig", "trainer": "Trainer train"}."""
    exports = {name: module for module, names in modules.items() for name in names.split()}

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    return __getattr__, sorted(exports)
