"""Inference workers as Ray actors (``samstream studio DATA --engine ray --address ADDR --workers N``).

The web server and SQLite stay on one machine; each actor runs an
:class:`~samstream.studio.host.InferenceHost` wherever the cluster places it, and talks to the web
process over two Ray queues (:class:`~samstream.studio.remote.QueueChannel`): every store call and
every mask goes through the web process, the only writer. An actor that dies is restarted by Ray;
its first message after the restart tells the web process, which fails the request that was with it,
marks its runs interrupted and resumes them.

Every node needs samstream and the model (a registry name is looked up in that node's
``SAMSTREAM_HOME``), and the data dir's ``media/`` at the same path (a shared file system), since the
actors read the videos' frames themselves.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import ray  # the ray extra: pip install 'samstream[ray]'
from ray.util.queue import Empty, Queue

from samstream.studio.host import HostSpec
from samstream.studio.remote import QueueChannel, serve
from samstream.studio.workers import RemoteWorker, resume_runs

if TYPE_CHECKING:
    from samstream.studio.service import Studio

__all__ = ["RayWorker", "start_ray_workers"]

LOCAL_OBJECT_STORE_BYTES = 256 << 20  # a local cluster started for the studio needs little object store


@ray.remote(max_restarts=-1, max_task_retries=0)
class StudioActor:
    """One inference host; its channel's reader runs on a thread of the actor."""

    def __init__(self, inbox: Queue, outbox: Queue, spec: HostSpec) -> None:
        self._thread = threading.Thread(target=serve, args=(QueueChannel(inbox, outbox), spec), daemon=True)
        self._thread.start()

    def pid(self) -> int:
        return os.getpid()


class _WebEnd:
    """The web process's end: sends into the actor's inbox, reads its outbox (``None`` on a timeout, so
    the reader can notice the studio closing)."""

    def __init__(self, inbox: Queue, outbox: Queue) -> None:
        self.inbox, self.outbox = inbox, outbox
        self.closed = False

    def send(self, message: Any) -> None:
        self.inbox.put(message)

    def recv(self) -> Any:
        if self.closed:
            raise EOFError("closed")
        try:
            return self.outbox.get(timeout=1.0)
        except Empty:
            return None


class RayWorker(RemoteWorker):
    """A host in a Ray actor; Ray restarts the actor when it dies (see :meth:`RemoteWorker._handle`)."""

    def __init__(self, spec: HostSpec, store: Any, hub: Any, studio: "Studio", gpus: float) -> None:
        super().__init__(store, hub, on_restart=self._restarted)
        self.studio = studio
        self._end = _WebEnd(Queue(), Queue())
        self.actor = StudioActor.options(num_gpus=gpus).remote(self._end.inbox, self._end.outbox, spec)
        self._start_reader()

    def _channel(self) -> Any:
        return self._end

    def _restarted(self, worker: RemoteWorker) -> None:
        resume_runs(self, self.store.tracks.interrupt_runs(self.studio.pool.pinned_to(self.index)))

    def kill(self) -> None:
        """End the actor's process (Ray starts it again): what a crash does."""
        ray.kill(self.actor, no_restart=False)

    def close(self) -> None:
        self.closed = True
        try:
            self._send(("stop",))
            self._bye.wait(120)
        except Exception:  # closing: the actor goes anyway
            pass
        self._end.closed = True
        ray.kill(self.actor, no_restart=True)


def start_ray_workers(studio: "Studio", count: int, address: str | None) -> list[RayWorker]:
    """``count`` actors on the cluster at ``address`` (None: a local cluster started here)."""
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE_BYTES, log_to_driver=False)
    gpus = 1.0 if ray.cluster_resources().get("GPU", 0) >= count else 0.0
    workers = []
    for i in range(count):
        spec = studio.host_spec(i, count)
        if gpus:
            spec = replace(spec, device="cuda")  # Ray gives each actor its own GPU
        workers.append(RayWorker(spec, studio.store, studio.hub, studio, gpus))
    return workers
