"""Writing files so that a reader never sees a partial one.

Every file samstream writes for a user (masks, JSON, videos, checkpoints, session states, caches)
goes through :func:`atomic_write`: the content is written to a hidden temporary name in the target's
folder (same file system, so the final rename is atomic) and renamed onto the target only when the
writer finished without an exception. On failure the temporary file is removed and the target, if
it existed, is left as it was.

This module sits in the lowest layer (beside :mod:`samstream.errors`) so that every other layer can
use it; it imports nothing of samstream's and no third-party package.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["atomic_write", "temporary_name", "write_bytes", "write_json", "write_text"]


def temporary_name(path: str | os.PathLike[str]) -> Path:
    """A fresh hidden name next to ``path`` that keeps its suffix (writers that pick a format by it)."""
    target = Path(path)
    return target.with_name(f".{target.stem}.{uuid.uuid4().hex[:12]}.tmp{target.suffix}")


@contextmanager
def atomic_write(path: str | os.PathLike[str], make_parents: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it is renamed onto ``path``.

    >>> with atomic_write("out/masks.json") as tmp:
    ...     tmp.write_text("{}")

    The temporary file is removed whatever happens; ``path`` changes only on success.
    """
    target = Path(path)
    if make_parents:
        target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(target)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike[str], data: Any, indent: int | None = 2) -> Path:
    """Write ``data`` as JSON to ``path`` atomically."""
    return write_text(path, json.dumps(data, indent=indent))
