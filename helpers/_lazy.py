"""The stage fronts' lazy re-exports (the `lazy_loader.attach` pattern of scikit-image and NetworkX).

`photos.load_image` imports `helpers.photos.data` the first time it is used, so `import helpers.photos`
costs nothing and the pre-flight check can run where torch is missing.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def attach(package: str, modules: dict[str, list[str]]) -> tuple[Callable, Callable, list[str]]:
    """Return `__getattr__`, `__dir__` and `__all__` for a stage package whose names live in its modules."""
    where = {name: module for module, names in modules.items() for name in names}
    duplicates = sorted(n for n in where if sum(n in names for names in modules.values()) > 1)
    if duplicates:
        raise ValueError(f"{package} would export {duplicates} from two modules")

    def __getattr__(name: str) -> object:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        setattr(sys.modules[package], name, value)  # the next look-up is a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted(where)

    return __getattr__, __dir__, sorted(where)
