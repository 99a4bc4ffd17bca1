"""Frames decoded and preprocessed ahead of the model, on a background thread.

Tracking asks for frames in an order known in advance (forward or reverse from a start frame). A
:class:`FramePrefetcher` walks that order on a thread, at most ``depth`` frames ahead, so that decoding
and resizing (which release the GIL in PyAV, Pillow and torch) overlap the model's work on the
previous frame: the accelerator never waits on the decoder. It is a drop-in ``frame index -> tensor``
callable: a frame outside the planned order, or one asked for again, is loaded on the spot.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from samstream.errors import InvalidInputError

T = TypeVar("T")
_POLL_S = 0.05  # how often a blocked producer checks whether it was closed


class FramePrefetcher(Generic[T]):
    """``load(i)`` for the indices of ``order``, computed up to ``depth`` ahead on a daemon thread.

    Call it with an index to get ``load(index)``. Indices of ``order`` are expected in that order;
    planned frames the caller skipped are dropped. An error raised by ``load`` on the thread is raised
    by the call that asks for that frame. Use it as a context manager (or call :meth:`close`) so the
    thread stops when the caller stops early.
    """

    def __init__(self, load: Callable[[int], T], order: Iterable[int], depth: int = 4) -> None:
        if not isinstance(depth, int) or depth < 1:
            raise InvalidInputError(f"depth: {depth!r} is not a positive int")
        self._load = load
        self._order = list(order)
        self._pending = set(self._order)  # planned frames not yet handed out or dropped
        self._queue: queue.Queue[tuple[int, T | None, BaseException | None]] = queue.Queue(maxsize=depth)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="samstream-prefetch", daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        for index in self._order:
            if self._closed.is_set():
                return
            try:
                item: tuple[int, T | None, BaseException | None] = (index, self._load(index), None)
            except BaseException as exc:  # handed to the consumer, raised there
                item = (index, None, exc)
            while not self._closed.is_set():
                try:
                    self._queue.put(item, timeout=_POLL_S)
                    break
                except queue.Full:
                    continue
            if item[2] is not None:
                return

    def __call__(self, index: int) -> T:
        if index not in self._pending or self._closed.is_set():
            return self._load(index)
        while True:
            got, value, error = self._queue.get()
            self._pending.discard(got)
            if error is not None:
                self._pending.clear()  # the producer stopped at the error
                if got == index:
                    raise error
                return self._load(index)  # the failed frame was skipped: this one is loaded here
            if got == index:
                return value  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the thread (frames it already loaded are dropped)."""
        self._closed.set()
        self._thread.join()
        self._pending.clear()

    def __enter__(self) -> "FramePrefetcher[T]":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
