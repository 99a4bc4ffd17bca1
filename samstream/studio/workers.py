"""The studio's inference workers and the pool that pins each video to one of them.

A worker runs an :class:`~samstream.studio.host.InferenceHost`: the model and the warm sessions of the
videos pinned to it. Three kinds, one interface (:meth:`call` a host method by name, :meth:`ahead`,
:meth:`close`):

- :class:`ThreadWorker`: the host on a thread of the web process (the default with one worker);
- :class:`ProcessWorker`: the host in its own process (``samstream studio --workers N``), talking over
  a pipe (:mod:`samstream.studio.remote`); the web process stays the only writer of SQLite;
- :class:`~samstream.studio.ray_workers.RayWorker`: the host in a Ray actor, anywhere in a cluster.

A click on one video never waits behind a propagation of another video pinned to another worker. A
worker process that dies is started again; the runs it had going are marked interrupted and resumed
from the frame after the last one stored; its videos' sessions are rebuilt from the store on their
next request (no re-tracking). What was acknowledged is in the store, so nothing acknowledged is lost;
a request that was with the dead worker fails with :class:`~samstream.studio.worker.WorkerStopped`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from samstream.studio.host import HostSpec, InferenceHost
from samstream.studio.remote import STORE_PARTS, Channel, WorkerStopped, serve
from samstream.studio.worker import INTERACTIVE, Worker

__all__ = ["ProcessWorker", "RemoteWorker", "ThreadWorker", "WorkerPool", "resume_runs"]

log = logging.getLogger("samstream.studio")


class ThreadWorker:
    """A host on a worker thread of the web process, over the store itself."""

    def __init__(self, spec: HostSpec, store: Any, hub: Any, model: Any | None = None) -> None:
        self.worker = Worker()
        self.host = self.worker.submit(lambda: InferenceHost(spec, store, hub, self.worker, model)).result()
        self.index = 0
        self.spec = spec

    async def call(self, method: str, *args: Any, priority: int = INTERACTIVE, label: str = "a request") -> Any:
        """Await host ``method`` called with ``args`` on the worker thread at ``priority``, shown to waiting clients
        as ``label``; returns its result or raises its exception."""
        fn = getattr(self.host, method)
        return await self.worker.call(lambda: fn(*args), priority, label)

    def call_sync(self, method: str, *args: Any, timeout: float = 120) -> Any:
        """Call host ``method`` with ``args`` on the worker thread (interactive priority) and wait up to ``timeout``
        seconds for its result (:class:`TimeoutError` after that)."""
        fn = getattr(self.host, method)
        return self.worker.submit(lambda: fn(*args)).result(timeout=timeout)

    def ahead(self) -> int:
        """Jobs a new interactive request would wait for: the running one and those queued before it."""
        return self.worker.ahead()

    @property
    def doing(self) -> str | None:
        """What the worker runs now (a job's label; None: idle)."""
        return self.worker.doing

    @property
    def pid(self) -> int | None:
        """None: the host runs in the web process itself."""
        return None

    def close(self) -> None:
        """Close the host (runs stop, resumable), waiting up to 60 s, then stop the worker thread."""
        try:
            self.call_sync("close", timeout=60)
        finally:
            self.worker.stop()


class RemoteWorker:
    """The web process's end of a host running elsewhere (a process or an actor), over a channel.

    A reader thread answers the host's store calls on the real store, publishes its events, and
    resolves the futures of calls. ``on_restart(worker)`` is told when the host (re)starts after the
    first time (a dead process started again, or a Ray actor restarted)."""

    def __init__(self, store: Any, hub: Any, on_restart: Callable[["RemoteWorker"], None] | None = None) -> None:
        self.store, self.hub, self.on_restart = store, hub, on_restart
        self._ids = itertools.count()
        self._calls: dict[int, Future] = {}
        self._started: set[int] = set()
        self._send_lock = threading.Lock()
        self._hello = threading.Event()
        self._bye = threading.Event()
        self.pid: int | None = None
        self.doing: str | None = None
        self.queued = 0
        self.tick = 0
        self.index = 0
        self.restarts = 0
        self.closed = False

    # ------------------------------------------------------------------ for subclasses
    def _channel(self) -> Channel:
        raise NotImplementedError

    def _start_reader(self) -> None:
        threading.Thread(target=self._read, name="samstream-studio-link", daemon=True).start()

    # ------------------------------------------------------------------ calls
    def _send(self, message: tuple) -> None:
        with self._send_lock:
            self._channel().send(message)

    def submit(self, method: str, *args: Any, priority: int = INTERACTIVE, label: str = "a request") -> Future:
        """Send a call of host ``method`` with ``args`` at ``priority`` (shown to waiting clients as ``label``); the
        future gets its result or exception. A host that cannot be reached fails the future at once with
        :class:`WorkerStopped`, as does one that stops while it runs the call."""
        future: Future = Future()
        cid = next(self._ids)
        self._calls[cid] = future
        try:
            self._send(("call", cid, method, args, priority, label))
        except (OSError, EOFError, ValueError) as exc:
            self._calls.pop(cid, None)
            future.set_exception(WorkerStopped(f"worker: the inference worker is not reachable ({exc}); try again"))
        return future

    async def call(self, method: str, *args: Any, priority: int = INTERACTIVE, label: str = "a request") -> Any:
        """Await host ``method`` called with ``args`` at ``priority`` (shown as ``label``); returns its result or
        raises its exception (see :meth:`submit`)."""
        return await asyncio.wrap_future(self.submit(method, *args, priority=priority, label=label))

    def call_sync(self, method: str, *args: Any, timeout: float = 120) -> Any:
        """Call host ``method`` with ``args`` (interactive priority) and wait up to ``timeout`` seconds for its
        result (:class:`TimeoutError` after that)."""
        return self.submit(method, *args).result(timeout=timeout)

    def ahead(self) -> int:
        """Jobs a new request would wait for, as the host last told: the queued ones and the running one (all
        priorities)."""
        return self.queued + (1 if self.doing is not None else 0)

    def wait_started(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the host's first hello; returns whether it came."""
        return self._hello.wait(timeout)

    # ------------------------------------------------------------------ the reader
    def _read(self) -> None:
        channel = self._channel()
        while True:
            try:
                message = channel.recv()
            except (EOFError, OSError):
                break
            if message is None:  # a channel that times out (Ray's queues): a quiet moment
                self._read_quiet()
                continue
            try:
                self._handle(message)
            except Exception:  # a bad message must not kill the link
                log.exception("studio: a message from an inference worker could not be handled")
        self._lost("its process ended")

    def _hello_from(self, message: tuple) -> None:
        """A life of the host started (subclasses take what the hello carries)."""

    def _read_quiet(self) -> None:
        """Called when a read timed out with nothing (channels that time out); subclasses check liveness."""

    def _handle(self, message: tuple) -> None:
        kind = message[0]
        if kind == "store":
            self._answer_store(*message[1:])
        elif kind == "event":
            self.hub.publish(*message[1:])
        elif kind == "state":
            self.doing, self.queued, self.tick = message[1:]
        elif kind == "bye":
            self._bye.set()
            self._send(("exit",))
        elif kind == "started":
            self._started.add(message[1])
        elif kind in ("result", "error"):
            future = self._calls.pop(message[1], None)
            self._started.discard(message[1])
            if future is not None:
                future.set_result(message[2]) if kind == "result" else future.set_exception(message[2])
        elif kind == "hello":
            again = self._hello.is_set()
            self.pid = message[1]
            self._hello_from(message)
            self._hello.set()
            if again:  # restarted in place (a Ray actor): what it was doing is lost
                self._fail_started("it restarted")
                self.restarts += 1
                if self.on_restart is not None:
                    self.on_restart(self)

    def _answer_store(self, rid: str, part: str, method: str, args: tuple, kwargs: dict[str, Any]) -> None:
        try:
            if part not in STORE_PARTS or method.startswith("_"):
                raise PermissionError(f"store: {part}.{method} is not a call a worker may make")
            value, ok = getattr(getattr(self.store, part), method)(*args, **kwargs), True
        except Exception as exc:  # handed back to the worker, where the host sees it as its own
            value, ok = exc, False
        try:
            self._send(("store_result", rid, ok, value))
        except (OSError, EOFError, ValueError):
            pass  # the worker that asked is gone (its calls are failed when that is noticed)

    def _fail_started(self, why: str) -> None:
        for cid in list(self._started):
            future = self._calls.pop(cid, None)
            if future is not None:
                future.set_exception(WorkerStopped(f"worker: the inference worker stopped ({why}) while it did "
                                                   "this request; nothing of it was kept: try again"))
        self._started.clear()

    def _lost(self, why: str) -> None:
        self._started |= set(self._calls)  # every call in the pipe is gone with the process
        self._fail_started(why)
        self.doing, self.queued = None, 0


class ProcessWorker(RemoteWorker):
    """A host in a child process (``spawn``: a fresh interpreter, its own torch threads)."""

    def __init__(self, spec: HostSpec, store: Any, hub: Any, on_exit: Callable[["ProcessWorker"], None]) -> None:
        super().__init__(store, hub)
        self.spec, self.on_exit = spec, on_exit
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(target=serve, args=(child, spec), name="samstream-studio-worker", daemon=True)
        self.process.start()
        child.close()
        self.pid = self.process.pid
        self._start_reader()

    def _channel(self) -> Channel:
        return self._conn

    def _lost(self, why: str) -> None:
        super()._lost(why)
        if not self.closed:
            self.on_exit(self)

    def close(self) -> None:
        """Close the host (its runs stay resumable), waiting up to 2 minutes for it and 30 s for the process to end,
        then kill the process if it still runs. A worker closed this way is not started again."""
        self.closed = True
        try:
            self._send(("stop",))
            self._bye.wait(120)
            self.process.join(timeout=30)
        except (OSError, EOFError, ValueError):
            pass
        if self.process.is_alive():
            self.process.kill()
        self._conn.close()


class WorkerPool:
    """Inference workers, each video pinned to one (the least loaded when it is first used)."""

    def __init__(self, store: Any, hub: Any) -> None:
        self.store, self.hub = store, hub
        self.workers: list[Any] = []
        self._pins: dict[int, int] = {}
        self._lock = threading.Lock()

    def add(self, worker: Any) -> None:
        """Add ``worker`` as the next index."""
        worker.index = len(self.workers)
        self.workers.append(worker)

    def for_video(self, video_id: int) -> Any:
        """The worker video ``video_id`` is pinned to; a video not pinned yet is pinned to the worker with the
        fewest videos (the lowest index among equals)."""
        with self._lock:
            index = self._pins.get(video_id)
            if index is None:
                load = [0] * len(self.workers)
                for i in self._pins.values():
                    load[i] += 1
                index = self._pins[video_id] = min(range(len(self.workers)), key=lambda i: (load[i], i))
            return self.workers[index]

    def pinned_to(self, index: int) -> list[int]:
        """The videos pinned to worker ``index``, by id."""
        with self._lock:
            return sorted(v for v, i in self._pins.items() if i == index)

    def pins(self) -> dict[int, int]:
        """A copy of the pins: video id -> worker index."""
        with self._lock:
            return dict(self._pins)

    async def call(self, video_id: int, method: str, *args: Any, priority: int = INTERACTIVE,
                   label: str = "a request") -> Any:
        """Await host ``method`` called with ``args`` on the worker of video ``video_id``, at ``priority`` and shown
        as ``label``; returns its result or raises its exception."""
        return await self.for_video(video_id).call(method, *args, priority=priority, label=label)

    async def switch_model(self, name: str, old: str) -> None:
        """Every worker loads model ``name`` and uses it from now on (their runs stop first, resumable); a worker
        started later (a restart) loads it too. When one cannot load it (its error is raised: a 4xx), those
        already switched go back to ``old``: all workers always run one model."""
        switched = []
        try:
            for worker in self.workers:
                await worker.call("switch_model", name, label=f"loading the model {name}")
                switched.append(worker)
        except Exception:
            for worker in switched:
                await worker.call("switch_model", old, label=f"loading the model {old} again")
            raise
        for worker in self.workers:
            worker.spec = dataclasses.replace(worker.spec, model=name)

    def replace(self, index: int, worker: Any) -> None:
        """Put ``worker`` at ``index`` in place of a dead one; the videos pinned there stay pinned to it."""
        worker.index = index
        self.workers[index] = worker

    async def stats(self) -> dict[str, Any]:
        """Counted model work of every worker, added up, and each worker's own figures (the reply of
        ``GET /api/stats``)."""
        per = [await w.call("stats") for w in self.workers]
        total = {k: sum(p[k] for p in per) for k in ("images_encoded", "frames_tracked", "prompts_decoded",
                                                     "memories_encoded", "sessions_built", "warm_bytes",
                                                     "session_budget")}
        total["warm_sessions"] = sorted(v for p in per for v in p["warm_sessions"])
        workers = [{"index": w.index, "pid": w.pid, "restarts": getattr(w, "restarts", 0),
                    "videos": self.pinned_to(w.index), **p} for w, p in zip(self.workers, per)]
        return {**total, "workers": workers}

    def close(self) -> None:
        """Close every worker; one that fails to close is logged and the others still close."""
        for worker in self.workers:
            try:
                worker.close()
            except Exception:  # closing the others matters more
                log.exception("studio: an inference worker did not close cleanly")


def resume_runs(worker: Any, runs: list[tuple[int, str | None]], tries: int = 3) -> None:
    """Resume on ``worker`` the ``runs`` a dead worker left ((video id, person who started the run) each). A resume
    the worker could not do (it stopped again meanwhile) is tried again, ``tries`` times in all; a failure is logged
    (the run stays interrupted and resumable)."""
    for video_id, person in runs:
        future = worker.submit("resume", video_id, person, label=f"resuming the propagation of video {video_id}")

        def done(f: Future, video_id: int = video_id, person: str | None = person) -> None:
            exc = f.exception()
            if isinstance(exc, WorkerStopped) and tries > 1:
                resume_runs(worker, [(video_id, person)], tries - 1)
            elif exc is not None:
                log.error("studio: the propagation of video %d could not be resumed: %s", video_id, exc)

        future.add_done_callback(done)
