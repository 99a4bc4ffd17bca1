"""Per-video change streams (Server-Sent Events).

Every change to a video (an object created, a prompt and its mask, a review, each propagated frame
with progress) is published here, from any thread, and fanned out to the subscribers of that video.
Each event gets an increasing id; the last :data:`BACKLOG` events per video are kept so that a client
that reconnects with ``Last-Event-ID`` catches up on what it missed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["EventHub", "format_sse"]

BACKLOG = 2000  # events kept per video for reconnecting clients
QUEUE_LIMIT = 10000  # events buffered per subscriber before it is dropped (a stalled client)


def format_sse(event_id: int, kind: str, data: dict[str, Any]) -> bytes:
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data)}\n\n".encode()


class _Subscriber:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[tuple[int, str, dict[str, Any]] | None] = asyncio.Queue(QUEUE_LIMIT)


class EventHub:
    """Fans events out to subscribers; thread-safe."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._subs: dict[int, list[_Subscriber]] = {}
        self._backlog: dict[int, deque[tuple[int, str, dict[str, Any]]]] = {}

    def publish(self, video_id: int, kind: str, data: dict[str, Any]) -> int:
        with self._lock:
            event = (next(self._ids), kind, {"video_id": video_id, **data})
            self._backlog.setdefault(video_id, deque(maxlen=BACKLOG)).append(event)
            subs = list(self._subs.get(video_id, ()))
        for sub in subs:
            sub.loop.call_soon_threadsafe(self._deliver, video_id, sub, event)
        return event[0]

    def last_id(self, video_id: int) -> int:
        """Id of the video's latest event (0 if none): load a video's state, then stream from here."""
        with self._lock:
            backlog = self._backlog.get(video_id)
            return backlog[-1][0] if backlog else 0

    def _deliver(self, video_id: int, sub: _Subscriber, event: tuple[int, str, dict[str, Any]]) -> None:
        try:
            sub.queue.put_nowait(event)
        except asyncio.QueueFull:  # the client stopped reading: drop it; it reconnects and catches up
            self._remove(video_id, sub)
            sub.queue.get_nowait()
            sub.queue.put_nowait(None)

    def _remove(self, video_id: int, sub: _Subscriber) -> None:
        with self._lock:
            subs = self._subs.get(video_id, [])
            if sub in subs:
                subs.remove(sub)

    async def stream(self, video_id: int, last_id: int = 0, limit: int | None = None,
                     keepalive: float = 15.0) -> AsyncIterator[bytes]:
        """SSE bytes for one client: missed events after ``last_id``, then live ones (``limit`` ends it)."""
        sub = _Subscriber(asyncio.get_running_loop())
        with self._lock:
            missed = [e for e in self._backlog.get(video_id, ()) if e[0] > last_id]
            self._subs.setdefault(video_id, []).append(sub)
        sent = 0
        try:
            yield b": connected\n\n"
            for event in missed:
                yield format_sse(*event)
                sent += 1
                if limit is not None and sent >= limit:
                    return
            while limit is None or sent < limit:
                try:
                    event = await asyncio.wait_for(sub.queue.get(), keepalive)
                except asyncio.TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                if event is None:
                    return
                if event[0] > last_id:
                    yield format_sse(*event)
                    sent += 1
        finally:
            self._remove(video_id, sub)
