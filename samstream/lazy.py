"""Public names of a package loaded on first use (PEP 562), so that importing the package, or one
light module of it, does not import what its heavier modules need (torch, the ONNX host).

>>> __getattr__, __dir__ = lazy_names(globals(), {"ImagePredictor": "samstream.image.predictor"})
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_names(namespace: dict[str, Any],
               public: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of the package whose ``globals()`` is ``namespace``;
    ``public`` maps each public name to the module defining it."""
    package = namespace["__name__"]

    def getattr_(name: str) -> Any:
        module = public.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # later lookups skip this function
        return value

    def dir_() -> list[str]:
        return sorted(set(namespace) | set(public))

    return getattr_, dir_
