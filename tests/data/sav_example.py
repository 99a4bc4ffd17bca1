"""The official SA-V example files (``shared/data/sav_example``) and the JSON form tests compare with them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "sav_example"
if not EXAMPLE.is_dir():  # the checkout sits beside shared/ (e.g. /work/main and /work/shared)
    EXAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "sav_example"


def official(kind: str) -> dict[str, Any]:
    """The example video's ``manual`` or ``auto`` masklet file."""
    return json.loads((EXAMPLE / f"sav_000001_{kind}.json").read_text())


def form(value: Any) -> Any:
    """The JSON form of a value: types and nesting, with the forms of a list's items as a set."""
    if isinstance(value, dict):
        return {k: form(v) for k, v in value.items()}
    if isinstance(value, list):
        return ("list", frozenset(repr(form(v)) for v in value))
    return type(value).__name__
