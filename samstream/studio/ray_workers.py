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
import time
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
LIVENESS_SECONDS = 10.0  # a quiet actor is asked whether it is alive this often


@ray.remote(max_restarts=-1, max_task_retries=0)
class StudioActor:
    """One inference host; its channel's reader runs on a thread of the actor.

    Each life of the actor reads its own inbox, made here and announced in its hello: a queue's
    pending ``get`` of a life that died would otherwise still take (and lose) what is sent next."""

    def __init__(self, outbox: Queue, spec: HostSpec) -> None:
        inbox = Queue()  # owned by this life of the actor: it goes with it
        channel = QueueChannel(inbox, outbox)
        self._thread = threading.Thread(target=serve, args=(channel, spec, (inbox,)), daemon=True)
        self._thread.start()

    def pid(self) -> int:
        """The actor's process id (also a cheap call that tells whether the actor is alive)."""
        return os.getpid()


class _WebEnd:
    """The web process's end: sends into the inbox of the actor's current life (known from its hello),
    reads its outbox (``None`` on a timeout, so the reader can notice the studio closing)."""

    def __init__(self, outbox: Queue) -> None:
        self.inbox: Queue | None = None
        self.outbox = outbox
        self.closed = False

    def send(self, message: Any) -> None:
        if self.inbox is None:
            raise OSError("the actor has not started yet")
        try:
            self.inbox.put(message)
        except ray.exceptions.RayError as exc:  # the life it was meant for died: as a broken pipe
            raise OSError(f"the actor's inbox is gone ({type(exc).__name__})") from None

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
        self.studio, self.spec, self.gpus = studio, spec, gpus
        self._end = _WebEnd(Queue())
        # the constructor's arguments stay referenced here: Ray re-reads them from its object store
        # each time it restarts the actor, and would fail the restart once they were released
        self._args = [ray.put(self._end.outbox), ray.put(spec)]
        self.actor = StudioActor.options(num_gpus=gpus).remote(*self._args)
        self._checked = time.monotonic()
        self._start_reader()

    def _channel(self) -> Any:
        return self._end

    def _hello_from(self, message: tuple) -> None:
        """A life of the actor started: from now on, send to its inbox. What was sent to an earlier
        life and not answered is lost with it (the restart handling fails it)."""
        self._end.inbox = message[2]
        self._started |= set(self._calls)

    def _read_quiet(self) -> None:
        """Nothing came for a while: make sure the actor is there (Ray may have given up restarting it)."""
        if time.monotonic() - self._checked < LIVENESS_SECONDS or self.closed:
            return
        self._checked = time.monotonic()
        try:
            ray.get(self.actor.pid.remote(), timeout=LIVENESS_SECONDS)
        except ray.exceptions.GetTimeoutError:
            return  # busy, or being restarted: its hello will tell
        except ray.exceptions.RayActorError:
            self._lost("its actor died and was not restarted")
            self.studio.replace_worker(self)

    def _restarted(self, worker: RemoteWorker) -> None:
        resume_runs(self, self.store.tracks.interrupt_runs(self.studio.pool.pinned_to(self.index)))

    def kill(self) -> None:
        """End the actor's process (Ray starts it again): what a crash does."""
        ray.kill(self.actor, no_restart=False)

    def close(self) -> None:
        """Close the host (its runs stay resumable), waiting up to 2 minutes for it, then end the actor for good
        (Ray does not restart it)."""
        self.closed = True
        try:
            self._send(("stop",))
            self._bye.wait(120)
        except Exception:  # closing: the actor goes anyway
            pass
        self._end.closed = True
        ray.kill(self.actor, no_restart=True)


def start_ray_workers(studio: "Studio", count: int, address: str | None) -> list[RayWorker]:
    """``count`` actors for ``studio`` on the cluster at ``address`` (None: a local cluster started here), each with
    its own GPU when the cluster has one per actor, else on CPUs."""
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
