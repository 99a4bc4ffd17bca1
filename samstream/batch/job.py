"""The driver of a batch job, whatever the engine: what is left to do, the record of each result,
the early stop, and the outputs that need every item (the merged COCO JSON).

An *engine* is a function ``engine(spec, items) -> iterator of ItemResult`` that runs
:class:`~samstream.batch.work.BatchWorker` over ``items`` somewhere (this process, a Ray cluster)
and yields each result as it comes; the driver never sees masks, only results. Closing the
iterator must stop the engine (the early stop of ``max_errors``).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from samstream.batch.items import Item
from samstream.batch.manifest import Manifest
from samstream.batch.spec import ItemResult, JobSpec
from samstream.batch.work import STAGING, mask_json_path
from samstream.errors import InvalidInputError
from samstream.io.masks import prepare_output_dir
from samstream.io.rle import write_coco_json

__all__ = ["COCO_FILE", "BatchJob", "BatchSummary", "Engine"]

COCO_FILE = "annotations.json"
Engine = Callable[[JobSpec, list[Item]], Iterator[ItemResult]]


@dataclass(frozen=True)
class BatchSummary:
    items: int  # listed
    skipped: int  # done by an earlier run, outputs checked
    done: int  # done by this run
    failed: int  # failed in this run (see batch.errors.jsonl)
    stopped: bool  # stopped early by max_errors
    seconds: float

    @property
    def items_per_s(self) -> float:
        return (self.done + self.failed) / self.seconds if self.seconds > 0 else 0.0


class BatchJob:
    """One run of a job over ``items``: :meth:`open` works out what is left, :meth:`run` does it."""

    def __init__(self, spec: JobSpec, items: list[Item], manifest: Manifest, skipped: set[str]) -> None:
        self.spec = spec
        self.items = items
        self.manifest = manifest
        self.pending = [item for item in items if item.key not in skipped]
        self.skipped = len(items) - len(self.pending)

    @classmethod
    def open(cls, spec: JobSpec, items: Sequence[Item], force: bool = False) -> "BatchJob":
        """Start the job in ``spec.out_dir`` or resume it there.

        A folder that is not this job's and holds outputs of the same names is refused unless
        ``force`` (which starts over: earlier outputs and logs are removed).
        """
        items = list(items)
        keys = [item.key for item in items]
        if len(set(keys)) != len(keys):
            raise InvalidInputError("items: two items have the same key; their outputs would clash")
        out = Path(spec.out_dir)
        if force or not Manifest.is_job(out):
            names = ["masks/", COCO_FILE] if spec.task == "auto" else [f"{k}/" for k in keys]
            prepare_output_dir(out, names, force)
        manifest = Manifest.open(out, spec.settings(), force)
        return cls(spec, items, manifest, set(manifest.finished(items)))

    def run(self, engine: Engine, max_errors: int | None = None,
            on_result: Callable[[ItemResult], None] | None = None) -> BatchSummary:
        """Run the pending items on ``engine``; stop once ``max_errors`` items failed (None: never)."""
        if max_errors is not None and max_errors < 1:
            raise InvalidInputError(f"max_errors: expected an integer >= 1 or None, got {max_errors}")
        start = time.perf_counter()
        done = failed = 0
        stopped = False
        self._clear_staging()  # what a killed run left
        results = engine(self.spec, self.pending)
        try:
            for result in results:
                self.manifest.record(result)
                done, failed = done + result.ok, failed + (not result.ok)
                if on_result is not None:
                    on_result(result)
                if max_errors is not None and failed >= max_errors and done + failed < len(self.pending):
                    stopped = True
                    break
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()  # stops the engine's workers when we leave early
            self.manifest.close()
            self._clear_staging()
        if self.spec.task == "auto":
            self._write_merged()
        return BatchSummary(len(self.items), self.skipped, done, failed, stopped, time.perf_counter() - start)

    def _clear_staging(self) -> None:
        shutil.rmtree(Path(self.spec.out_dir) / STAGING, ignore_errors=True)

    def _write_merged(self) -> Path:
        """``annotations.json``: COCO instances of every finished image, in the order listed."""
        out = Path(self.spec.out_dir)
        finished = self.manifest.finished(self.items)
        images, annotations = [], []
        for item in self.items:
            if item.key in finished:
                doc = json.loads((out / mask_json_path(item.key)).read_text(encoding="utf-8"))
                info = doc["image"]
                images.append((info["file_name"], info["height"], info["width"]))
                annotations.append(doc["annotations"])
        return write_coco_json(out / COCO_FILE, images, annotations)
