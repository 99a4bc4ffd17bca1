"""Automatic mask generation ("segment everything") over a grid of point prompts.

``GeneratorOptions`` (the settings, numpy only) is importable without torch, so the command line
can show its defaults in ``--help`` at once; ``MaskGenerator`` is loaded on first use (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from samstream.amg.options import GeneratorOptions

__all__ = ["GeneratorOptions", "MaskGenerator"]


def __getattr__(name: str) -> Any:
    if name == "MaskGenerator":
        value = importlib.import_module("samstream.amg.generator").MaskGenerator
        globals()[name] = value
        return value
    raise AttributeError(f"module 'samstream.amg' has no attribute {name!r}")


if TYPE_CHECKING:
    from samstream.amg.generator import MaskGenerator
