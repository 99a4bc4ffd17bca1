"""The one inference worker: a thread that runs model work from a priority queue.

Interactive requests (a click, a box, undo) go in at :data:`INTERACTIVE`; a propagation is a
:class:`Steps` job that computes ONE frame per turn and then goes back into the queue at
:data:`BACKGROUND`. So a click on video B waits for at most one frame of video A's propagation.
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

__all__ = ["BACKGROUND", "INTERACTIVE", "Steps", "Worker"]

INTERACTIVE, BACKGROUND = 0, 1


class Steps:
    """A long job run one step at a time: ``step()`` returns True while there is more to do."""

    def __init__(self, step: Callable[[], bool], on_error: Callable[[BaseException], None]) -> None:
        self.step = step
        self.on_error = on_error


class Worker:
    """Runs every model call on one thread, interactive work first."""

    def __init__(self) -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, Any]] = queue.PriorityQueue()
        self._seq = itertools.count()
        self.tick = 0  # turns taken so far; read by the jobs themselves
        self._thread = threading.Thread(target=self._run, name="samstream-studio-worker", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], Any], priority: int = INTERACTIVE) -> Future:
        """Run ``fn()`` on the worker; the future holds its result or exception."""
        future: Future = Future()
        self._queue.put((priority, next(self._seq), (fn, future)))
        return future

    async def call(self, fn: Callable[[], Any], priority: int = INTERACTIVE) -> Any:
        """Await ``fn()`` run on the worker (from the event loop)."""
        return await asyncio.wrap_future(self.submit(fn, priority))

    def start_steps(self, job: Steps) -> None:
        self._queue.put((BACKGROUND, next(self._seq), job))

    def stop(self) -> None:
        self._queue.put((-1, next(self._seq), None))
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            _, _, item = self._queue.get()
            if item is None:
                return
            self.tick += 1
            if isinstance(item, Steps):
                try:
                    more = item.step()
                except BaseException as exc:  # a failed step ends its job, never the worker
                    item.on_error(exc)
                    more = False
                if more:
                    self._queue.put((BACKGROUND, next(self._seq), item))
                continue
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller, who turns it into a reply
                future.set_exception(exc)
