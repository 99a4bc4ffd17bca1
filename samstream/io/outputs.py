"""Output folders: never overwrite a user's files silently, never leave a failed run's files behind.

* :func:`prepare_output_dir` refuses when any output a run would write already exists (unless
  ``force``).
* :func:`staged_output` is where a run writes: a hidden temporary folder beside the target, whose
  entries are moved into the target when the run ends well. When the run fails, the temporary
  folder (and any parent folder this run created for it) is removed, and the target is exactly as
  it was: a failed run creates nothing and a retry is not blocked by its leftovers.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from samstream.errors import InvalidInputError

__all__ = ["check_output_dir", "prepare_output_dir", "staged_output"]


def check_output_dir(out: str | Path, names: Iterable[str], force: bool = False) -> Path:
    """Refuse when ``out`` is a file, or (without ``force``) when any of ``names`` exists in it.

    ``names`` are relative paths; one ending in ``/`` is a folder and counts as existing when it
    holds any file. Nothing is created or changed.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out: {str(out)!r} exists and is not a folder")
    if not force and out.is_dir():
        for name in names:
            target = out / name
            taken = (target.is_dir() and any(target.iterdir())) if name.endswith("/") else target.exists()
            if taken:
                raise InvalidInputError(
                    f"--out: {str(target)!r} already exists; pass --force to overwrite, or choose another folder"
                )
    return out


def prepare_output_dir(out: str | Path, names: Iterable[str], force: bool = False) -> Path:
    """:func:`check_output_dir`, then create ``out``; with ``force`` the folders among ``names``
    are emptied first, so no stale file of an earlier, longer run stays among the new ones."""
    names = list(names)
    out = check_output_dir(out, names, force)
    if force and out.is_dir():
        for name in names:
            if name.endswith("/") and (out / name).is_dir():
                shutil.rmtree(out / name)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _missing_parents(path: Path) -> list[Path]:
    """The ancestors of ``path`` that do not exist yet, deepest first."""
    missing = []
    for parent in path.parents:
        if parent.exists():
            break
        missing.append(parent)
    return missing


@contextmanager
def staged_output(out: str | Path, names: Iterable[str], force: bool = False,
                  keep_on: tuple[type[BaseException], ...] = ()) -> Iterator[Path]:
    """Yield a temporary folder to write a run's outputs (``names``) to; move them into ``out`` at the end.

    The checks of :func:`check_output_dir` run first, before anything is created. On success
    each top-level entry of the temporary folder replaces its namesake in ``out`` (with
    ``force`` an older output of that name is removed first; other files in ``out`` are never
    touched). On an exception the temporary folder is deleted and ``out`` is left as it was,
    except for exceptions in ``keep_on`` (e.g. ``KeyboardInterrupt`` for a live run whose every
    written file is complete): then what was written is moved into place and the exception goes on.
    """
    names = list(names)
    out = check_output_dir(out, names, force)
    created = _missing_parents(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.{uuid.uuid4().hex[:12]}.partial"
    staging.mkdir()
    try:
        yield staging
    except keep_on:
        _commit(staging, out)
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for parent in created:  # deepest first; only folders this run made, and only if still empty
            try:
                parent.rmdir()
            except OSError:
                break
        raise
    _commit(staging, out)


def _commit(staging: Path, out: Path) -> None:
    """Move the staged entries into ``out`` (created if needed) and remove the staging folder."""
    if not out.exists():
        os.replace(staging, out)  # the whole folder at once
        return
    for entry in sorted(staging.iterdir()):
        target = out / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        os.replace(entry, target)
    staging.rmdir()
