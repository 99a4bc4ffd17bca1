"""The one inference worker: a thread that runs model work from a priority queue.

Interactive requests (a click, a box, undo) go in at :data:`INTERACTIVE`; a propagation is a
:class:`Steps` job that computes ONE frame per turn and then goes back into the queue at
:data:`BACKGROUND`. So a click on video B waits for at most one frame of video A's propagation.
Frames encoded ahead of clicks while nobody waits are :data:`IDLE` steps: they run only when nothing
else is queued, so a click waits at most for the one encoding already under way.
Within a priority jobs run first in, first out. ``tick`` counts the turns taken: results carry the
tick they ran at, which lets tests (and clients) see the order in which the worker served them.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from samstream.errors import SamstreamError

__all__ = ["BACKGROUND", "IDLE", "INTERACTIVE", "Steps", "Worker", "WorkerStopped"]

INTERACTIVE, BACKGROUND, IDLE = 0, 1, 2


class WorkerStopped(SamstreamError):
    """The inference worker of a video stopped while a request was with it (it is restarted)."""


class Steps:
    """A long job run one step at a time: ``step()`` returns True while there is more to do.

    ``label()`` says what it is doing (shown to clients that wait behind it)."""

    def __init__(self, step: Callable[[], bool], on_error: Callable[[BaseException], None],
                 label: Callable[[], str] | None = None) -> None:
        self.step = step
        self.on_error = on_error
        self.label = label or (lambda: "background work")
        self.priority = BACKGROUND


class Worker:
    """Runs every model call on one thread, interactive work first."""

    def __init__(self, on_change: Callable[[str | None, int, int], None] | None = None) -> None:
        """``on_change(doing, queued, tick)``: told whenever the worker starts or ends a turn."""
        self._queue: queue.PriorityQueue[tuple[int, int, Any]] = queue.PriorityQueue()
        self._seq = itertools.count()
        self.tick = 0  # turns taken so far; read by the jobs themselves
        self._doing: str | None = None  # what the worker runs now (None: idle)
        self._on_change = on_change
        self._thread = threading.Thread(target=self._run, name="samstream-studio-worker", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], Any], priority: int = INTERACTIVE, label: str = "a request") -> Future:
        """Run ``fn()`` on the worker at ``priority`` (:data:`INTERACTIVE`, :data:`BACKGROUND` or :data:`IDLE`),
        shown to waiting clients as ``label``; the future holds its result or exception."""
        future: Future = Future()
        self._queue.put((priority, next(self._seq), (fn, future, label)))
        return future

    async def call(self, fn: Callable[[], Any], priority: int = INTERACTIVE, label: str = "a request") -> Any:
        """Await ``fn()`` run on the worker (from the event loop), at ``priority`` and shown as ``label`` as in
        :meth:`submit`; returns its result or raises its exception."""
        return await asyncio.wrap_future(self.submit(fn, priority, label))

    def start_steps(self, job: Steps, priority: int = BACKGROUND) -> None:
        """Queue a long ``job``: it takes one step per turn at ``priority`` and goes back into the queue while its
        step returns True; a step that raises ends it through its ``on_error``."""
        job.priority = priority
        self._queue.put((priority, next(self._seq), job))

    def ahead(self, priority: int = INTERACTIVE) -> int:
        """Jobs a new job of ``priority`` would wait for: the running one and those queued before it."""
        with self._queue.mutex:
            queued = sum(1 for p, _, item in self._queue.queue if item is not None and p <= priority)
        return queued + (1 if self.doing is not None else 0)

    @property
    def doing(self) -> str | None:
        """What the worker runs now (a job's label; None: idle)."""
        return self._doing

    def _set_doing(self, doing: str | None) -> None:
        self._doing = doing
        if self._on_change is not None:
            self._on_change(doing, self._queue.qsize(), self.tick)

    def stop(self) -> None:
        """Stop the worker thread after the job under way (the stop goes ahead of every queued job: those are not
        run, and their futures fail with :class:`WorkerStopped`); waits up to 30 s for the thread to end."""
        self._queue.put((-1, next(self._seq), None))
        self._thread.join(timeout=30)
        while True:  # the jobs left behind: their callers are told, never left waiting
            try:
                _, _, item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, tuple) and item[1].set_running_or_notify_cancel():
                item[1].set_exception(WorkerStopped(f"worker: stopped before it ran {item[2]}"))

    def _run(self) -> None:
        while True:
            _, _, item = self._queue.get()
            if item is None:
                return
            self.tick += 1
            if isinstance(item, Steps):
                self._set_doing(item.label())
                try:
                    more = item.step()
                except BaseException as exc:  # a failed step ends its job, never the worker
                    item.on_error(exc)
                    more = False
                finally:
                    self._set_doing(None)
                if more:
                    self._queue.put((item.priority, next(self._seq), item))
                continue
            fn, future, label = item
            if not future.set_running_or_notify_cancel():
                continue
            self._set_doing(label)
            try:
                result = fn()
            except BaseException as exc:  # handed to the caller, who turns it into a reply
                self._set_doing(None)
                future.set_exception(exc)
            else:
                self._set_doing(None)  # before the result: a client that sees it sees an idle worker
                future.set_result(result)
