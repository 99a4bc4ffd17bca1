"""An inference host in another process (or a Ray actor), talking to the web process over one channel.

The web process stays the only writer of the studio's SQLite: the host in the worker reads and writes
through :class:`RemoteStore`, whose every call (``store.tracks.record_action(...)``) is sent to the
web process, run there on the real store, and answered. Events go the same way. Messages are tuples:

- web -> worker: ``("call", id, method, args, priority, label)``, ``("store_result", id, ok, value)``, ``("stop",)``
  (close the host), ``("exit",)`` (after its ``("bye",)``: end the loop);
- worker -> web: ``("hello", pid)`` (started, or restarted), ``("started", id)``, ``("result", id, value)``,
  ``("error", id, exception)``, ``("store", id, part, method, args, kwargs)``, ``("event", video_id, kind, data)``,
  ``("state", doing, queued, tick)`` (what the worker runs now, for clients that wait), ``("bye",)`` (closed).

A channel is anything with ``send(message)`` and ``recv()`` (``EOFError`` when closed): a
``multiprocessing`` pipe end, or :class:`QueueChannel` over two queues (Ray's, across machines).
"""

from __future__ import annotations

import itertools
import os
import pickle
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol

from samstream.studio.worker import WorkerStopped

__all__ = ["Channel", "QueueChannel", "RemoteHub", "RemoteStore", "STORE_PARTS", "WorkerStopped", "serve"]

STORE_PARTS = ("videos", "tracks", "proposals")  # the store's parts a host may call


class Channel(Protocol):
    def send(self, message: Any) -> None:
        """Send ``message`` (a tuple of picklable values) to the other end."""

    def recv(self) -> Any:
        """The next message from the other end (waits for one); ``EOFError`` (or ``OSError``) when closed."""


class QueueChannel:
    """A channel over two queues with ``put``/``get`` (the worker reads ``inbox``, writes ``outbox``)."""

    def __init__(self, inbox: Any, outbox: Any) -> None:
        self.inbox, self.outbox = inbox, outbox

    def send(self, message: Any) -> None:
        """Put ``message`` in the outbox."""
        self.outbox.put(message)

    def recv(self) -> Any:
        """The next message of the inbox (waits for one)."""
        return self.inbox.get()


class Link:
    """The worker's end of a channel: one sender at a time, and store calls waiting for their answers."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self._lock = threading.Lock()
        # store calls are numbered per life of the worker: an answer meant for an earlier life (a Ray
        # actor restarted, its queue still holding answers) can never be taken for one of this life's
        self._life = uuid.uuid4().hex[:12]
        self._ids = itertools.count()
        self._waiting: dict[str, Future] = {}

    def send(self, message: tuple) -> None:
        """Send ``message`` to the web process (one sender at a time: the reader and the worker thread both send)."""
        with self._lock:
            self.channel.send(message)

    def store_call(self, part: str, method: str, args: tuple, kwargs: dict[str, Any]) -> Any:
        """Run ``method`` of the store's ``part`` (videos, tracks, proposals) with ``args`` and ``kwargs`` in the
        web process and wait for its answer; returns its value or raises its exception."""
        future: Future = Future()
        rid = f"{self._life}:{next(self._ids)}"
        self._waiting[rid] = future
        self.send(("store", rid, part, method, args, kwargs))
        return future.result()

    def answered(self, rid: str, ok: bool, value: Any) -> None:
        """The web process answered store call ``rid``: ``value`` is its result (``ok``) or its exception; the
        waiting call gets it. An answer meant for an earlier life of the worker is ignored."""
        future = self._waiting.pop(rid, None)
        if future is None:  # an answer to an earlier life of this worker: nobody waits for it
            return
        future.set_result(value) if ok else future.set_exception(value)

    def reply(self, cid: int, future: Future) -> None:
        """Send the outcome of call ``cid`` (its finished ``future``) to the web process:
        ``("result", cid, value)``, or ``("error", cid, exception)`` (one that cannot be pickled goes as a
        :class:`RuntimeError` with its words)."""
        exc = future.exception()
        if exc is None:
            self.send(("result", cid, future.result()))
            return
        try:
            pickle.dumps(exc)
        except Exception:  # an exception that cannot cross the process boundary: its words do
            exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        self.send(("error", cid, exc))


class _StorePart:
    def __init__(self, link: Link, part: str) -> None:
        self._link, self._part = link, part

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *args, **kwargs: self._link.store_call(self._part, method, args, kwargs)


class RemoteStore:
    """The studio's store as seen from a worker: each call of ``videos``, ``tracks`` or ``proposals``
    runs in the web process."""

    def __init__(self, link: Link) -> None:
        for part in STORE_PARTS:
            setattr(self, part, _StorePart(link, part))


class RemoteHub:
    """The event hub as seen from a worker: events are published by the web process."""

    def __init__(self, link: Link) -> None:
        self._link = link

    def publish(self, video_id: int, kind: str, data: dict[str, Any]) -> int:
        """Send an event of ``kind`` with ``data`` for video ``video_id`` to the web process, which publishes it;
        returns 0 (the event's id is given there)."""
        self._link.send(("event", video_id, kind, data))
        return 0


def serve(channel: Channel, spec: Any, hello: tuple = ()) -> None:
    """A worker's life: build the host, then run calls until told to stop or the channel closes.

    ``spec`` is a :class:`~samstream.studio.host.HostSpec`. The host's model work runs on a
    :class:`~samstream.studio.worker.Worker` thread (interactive first, one propagation frame per turn);
    this thread only reads the channel. ``hello``: what the first message tells the web process besides
    the process id (a Ray actor's inbox)."""
    import torch  # the worker's own process: its CPU threads are set before any model work

    from samstream.studio.host import InferenceHost
    from samstream.studio.worker import Worker

    if spec.threads:
        torch.set_num_threads(spec.threads)
    link = Link(channel)
    worker = Worker(on_change=lambda doing, queued, tick: link.send(("state", doing, queued, tick)))
    host = InferenceHost(spec, RemoteStore(link), RemoteHub(link), worker)
    link.send(("hello", os.getpid(), *hello))
    while True:
        try:
            message = channel.recv()
        except (EOFError, OSError):
            break  # the web process went away
        kind = message[0]
        if kind == "call":
            _, cid, method, args, priority, label = message

            def run(cid: int = cid, fn: Callable[..., Any] = getattr(host, method), args: tuple = args) -> Any:
                link.send(("started", cid))
                return fn(*args)

            worker.submit(run, priority, label).add_done_callback(lambda f, cid=cid: link.reply(cid, f))
        elif kind == "store_result":
            link.answered(*message[1:])
        elif kind == "stop":  # close on the worker thread; this loop keeps answering its store calls
            worker.submit(host.close).add_done_callback(lambda f: link.send(("bye",)))
        elif kind == "exit":  # the web process has seen the host closed
            break
    worker.stop()
