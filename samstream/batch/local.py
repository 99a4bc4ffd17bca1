"""The local engine: the job's items one after another in this process, on one model."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from samstream.batch.items import Item
from samstream.batch.spec import ItemResult, JobSpec
from samstream.batch.work import BatchWorker
from samstream.model.sam2 import SAM2Model

__all__ = ["run_local"]


def run_local(spec: JobSpec, items: list[Item], model: SAM2Model | None = None) -> Iterator[ItemResult]:
    """Results of ``items`` in order (an engine for :meth:`samstream.batch.BatchJob.run`).

    ``model``: one already loaded (it must be ``spec.model``). Otherwise the model is loaded only
    when there is something to do, so resuming a finished job is instant. While the items run, torch
    uses ``spec.threads`` CPU threads, as each Ray actor does (its count is restored afterwards).
    """
    if not items:
        return
    before = torch.get_num_threads()
    torch.set_num_threads(spec.threads)
    try:
        worker = BatchWorker(spec, model)
        for item in items:
            yield worker.run(item)
    finally:
        torch.set_num_threads(before)
