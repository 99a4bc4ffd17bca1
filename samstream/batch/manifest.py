"""A batch job's record in its output folder: what it is, what is done, what failed.

Files in ``out_dir`` (written by the driver only, so there is one writer whatever the engine)::

    batch.json           the job's settings (JobSpec.settings); a re-run resumes only the same job
    batch.done.jsonl     one line per finished item: {"key", "source", "outputs", "count", "seconds", ...}
    batch.errors.jsonl   one line per item that failed in the latest run: {"key", "source", "message"}

A done line is appended only after the worker returned, that is after the item's outputs were
renamed into place; a re-run also checks that those outputs still exist. The two ``.jsonl`` files
are append-only logs rather than files rewritten through :func:`samstream.files.atomic_write`
(rewriting them per item would cost O(items²) on a dataset of millions): each line is flushed as
it is written, and a reader skips a torn last line (a crash in the middle of a write), whose item
is then simply done again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from samstream.batch.items import Item
from samstream.batch.spec import ItemResult
from samstream.errors import InvalidInputError
from samstream.files import write_json

__all__ = ["DONE_FILE", "ERRORS_FILE", "JOB_FILE", "Manifest", "read_jsonl"]

JOB_FILE = "batch.json"
DONE_FILE = "batch.done.jsonl"
ERRORS_FILE = "batch.errors.jsonl"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The complete JSON lines of ``path`` (none if it is missing); a torn line is skipped."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a crash: its item is not done
    return records


class Manifest:
    """The job file, the done log and the errors log of one output folder.

    Use :meth:`open`; then :meth:`finished` for what a re-run may skip, :meth:`record` for each
    result, and :meth:`close` (or ``with``) at the end.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self._done: IO[str] | None = None
        self._errors: IO[str] | None = None

    @classmethod
    def open(cls, out_dir: str | Path, settings: dict[str, Any], force: bool = False) -> "Manifest":
        """Start or resume the job of ``settings`` in ``out_dir``.

        A folder holding another job (other settings) is refused unless ``force``, which starts
        the job over (done and errors logs emptied). Whether the folder holds other files is for
        the caller to check (it knows the output names).
        """
        manifest = cls(Path(out_dir))
        job = manifest.out_dir / JOB_FILE
        if job.is_file() and not force:
            try:
                previous = json.loads(job.read_text(encoding="utf-8"))
            except ValueError:
                previous = None
            if previous != settings:
                raise InvalidInputError(
                    f"--out: {str(manifest.out_dir)!r} holds a batch job with other settings ({previous}); "
                    "pass --force to start over, or choose another folder")
        manifest.out_dir.mkdir(parents=True, exist_ok=True)
        write_json(job, settings)
        if force:
            (manifest.out_dir / DONE_FILE).unlink(missing_ok=True)
        (manifest.out_dir / ERRORS_FILE).unlink(missing_ok=True)  # the errors of the latest run only
        manifest._done = open(manifest.out_dir / DONE_FILE, "a", encoding="utf-8")
        manifest._errors = open(manifest.out_dir / ERRORS_FILE, "a", encoding="utf-8")
        return manifest

    @staticmethod
    def is_job(out_dir: str | Path) -> bool:
        """Whether ``out_dir`` holds a batch job (a re-run resumes it)."""
        return (Path(out_dir) / JOB_FILE).is_file()

    def done_entries(self) -> dict[str, ItemResult]:
        """Key -> the latest done entry (outputs not checked)."""
        return {r.key: r for r in map(ItemResult.from_json, read_jsonl(self.out_dir / DONE_FILE))}

    def finished(self, items: Iterable[Item]) -> dict[str, ItemResult]:
        """The entries of ``items`` that are done and whose outputs are all in place."""
        entries = self.done_entries()
        out = {}
        for item in items:
            entry = entries.get(item.key)
            if entry is not None and entry.source == item.source and all(self._present(o) for o in entry.outputs):
                out[item.key] = entry
        return out

    def _present(self, rel: str) -> bool:
        path = self.out_dir / rel
        return path.is_file() or (path.is_dir() and any(path.iterdir()))

    def record(self, result: ItemResult) -> None:
        """Append a result to the done log or the errors log."""
        if self._done is None or self._errors is None:
            raise InvalidInputError("manifest: record() needs a manifest from Manifest.open()")
        if result.ok:
            self._append(self._done, result.to_json())
        else:
            self._append(self._errors, {"key": result.key, "source": result.source, "message": result.message})

    @staticmethod
    def _append(fh: IO[str], record: dict[str, Any]) -> None:
        fh.write(json.dumps(record) + "\n")
        fh.flush()

    def close(self) -> None:
        for fh in (self._done, self._errors):
            if fh is not None:
                fh.close()
        self._done = self._errors = None

    def __enter__(self) -> "Manifest":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
