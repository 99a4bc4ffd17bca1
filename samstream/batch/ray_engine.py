"""The Ray engine: the job's items on a Ray Data pipeline over a pool of model-holding actors.

``ray.data.from_items`` holds the list of items (keys and paths only; workers read the media
themselves), ``map_batches`` runs :class:`~samstream.batch.work.BatchWorker` in a fixed pool of
actors (``ActorPoolStrategy(size=workers)``: the model is loaded once per actor), and the driver
streams the results back. Ray Data restarts an actor that dies and retries its batch on another
(``max_restarts=-1``, ``max_task_retries=-1`` are its defaults for actor pools); the outputs of a
retried item are written under the same names, so nothing is duplicated.

Every node needs samstream (same version), the model (a registry name resolved in each node's
``SAMSTREAM_HOME``, or a checkpoint path present on each node), and the dataset and ``out_dir`` on
a shared file system. Ray is an optional dependency (``pip install 'samstream[ray]'``), imported
only here and only when this engine runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from samstream.batch.items import Item
from samstream.batch.spec import ItemResult, JobSpec
from samstream.batch.work import BatchWorker, result_of_row
from samstream.errors import InvalidInputError, SamstreamError

__all__ = ["run_ray"]

# a local cluster carries only item names and small results through its object store
LOCAL_OBJECT_STORE_BYTES = 512 * 1024**2


def run_ray(spec: JobSpec, items: list[Item], workers: int = 1, gpus_per_worker: float | None = None,
            batch_size: int = 1, address: str | None = None) -> Iterator[ItemResult]:
    """Results of ``items`` as they finish (any order); an engine for :meth:`BatchJob.run`.

    ``address``: a running cluster (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``); None
    starts a local one for this job (or uses the one this process already started).
    ``gpus_per_worker``: GPUs reserved per actor (fractions share a GPU); None means 1 where the
    cluster has GPUs, else 0. ``batch_size``: items per call of an actor (and per retry).
    """
    if workers < 1 or batch_size < 1:
        raise InvalidInputError(f"--workers and --batch-size must be >= 1, got {workers} and {batch_size}")
    if not items:
        return
    import ray  # heavy optional dependency: pip install 'samstream[ray]'
    import ray.data

    started = _connect(ray, address, workers, spec.threads)
    try:
        gpus = _gpus(ray, gpus_per_worker)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the driver shows its own (items done, failed, items/s)
        context.print_on_execution_start = False
        rows = [{"key": item.key, "source": item.source} for item in items]
        dataset = ray.data.from_items(rows, override_num_blocks=max(1, -(-len(rows) // batch_size)))
        remote: dict[str, Any] = {"num_cpus": spec.threads}  # each actor's torch runs spec.threads threads
        if gpus > 0:
            remote["num_gpus"] = gpus
        results = dataset.map_batches(
            BatchWorker, fn_constructor_kwargs={"spec": spec, "own_process": True}, batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers), **remote)
        try:
            for row in results.iter_rows():
                yield result_of_row(row)
        except ray.exceptions.RayError as exc:  # a worker that cannot start (no model, no samstream)
            raise SamstreamError(f"--engine ray: the job failed: {_last_line(exc)}") from exc
    finally:
        if started:
            ray.shutdown()


def _connect(ray: Any, address: str | None, workers: int, threads: int) -> bool:
    """Join ``address`` or start a local cluster; True when this call started Ray (and must stop it)."""
    if ray.is_initialized():
        return False
    if address or os.environ.get("RAY_ADDRESS"):
        ray.init(address=address)
        return True
    # logical CPUs: the actors' plus one for Ray Data's own tasks, however few cores there are
    # (with fewer, the planner waits forever for a CPU that the actors hold)
    cpus = max(os.cpu_count() or 1, workers * threads + 1)
    ray.init(num_cpus=cpus, include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE_BYTES)
    return True


def _gpus(ray: Any, gpus_per_worker: float | None) -> float:
    available = float(ray.cluster_resources().get("GPU", 0))
    if gpus_per_worker is None:
        return 1.0 if available > 0 else 0.0
    if gpus_per_worker < 0:
        raise InvalidInputError(f"--gpus-per-worker: expected a number >= 0, got {gpus_per_worker}")
    if gpus_per_worker > 0 and available == 0:
        raise InvalidInputError(f"--gpus-per-worker {gpus_per_worker:g}: the Ray cluster has no GPU")
    return gpus_per_worker


def _last_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
