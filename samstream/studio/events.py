"""Per-video change streams (Server-Sent Events).

Every change to a video (an object created, a prompt and its mask, a review, each propagated frame
with progress) is published here, from any thread, and fanned out to the subscribers of that video.
Each event gets an increasing id; the last events per video are kept, at most :data:`BACKLOG` of them
and :data:`BACKLOG_BYTES` of their JSON (frame events carry whole-frame masks: a long propagation
must not pile them up), so that a client that reconnects with ``Last-Event-ID`` catches up on what it
missed. A client whose gap is older than the backlog gets a ``resync`` event and reloads.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["EVENT_KINDS", "EventHub", "format_sse"]

# Every kind of event a video's stream carries. A browser's EventSource hears only the kinds it
# listens for, so the page's list (static/js/api.js) must be this one: a test compares the two, and
# publishing any other kind is a programming error, caught here rather than by a page that never hears it.
EVENT_KINDS = frozenset({
    "prompt", "clear", "undo", "redo", "frame", "busy", "resync", "imported", "review", "workflow",
    "propagation_started", "propagation_done", "propagation_cancelled", "propagation_failed",
    "object_created", "object_updated", "object_deleted", "video_updated",
    "auto_started", "auto_frame", "auto_done", "auto_cancelled", "auto_failed",
    "masklet_accepted", "masklet_dismissed", "export_progress",
})

BACKLOG = 2000  # events kept per video for reconnecting clients
BACKLOG_BYTES = 4 << 20  # ... and at most this many bytes of their JSON
QUEUE_LIMIT = 10000  # events buffered per subscriber before it is dropped (a stalled client)


def format_sse(event_id: int, kind: str, data: dict[str, Any]) -> bytes:
    """One Server-Sent Event: its ``event_id``, ``kind`` (the event name) and ``data`` as one line of JSON."""
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
        self._backlog: dict[int, deque[tuple[int, str, dict[str, Any], int]]] = {}  # (id, kind, data, bytes)
        self._bytes: dict[int, int] = {}
        self._dropped: dict[int, int] = {}  # per video, the id of the newest event no longer kept

    def publish(self, video_id: int, kind: str, data: dict[str, Any]) -> int:
        """Announce an event of ``kind`` (one of :data:`EVENT_KINDS`, else :class:`ValueError`) with ``data`` to the
        subscribers of video ``video_id``, and keep it in the video's backlog; returns its id. Callable from any
        thread; the data gains ``video_id``."""
        if kind not in EVENT_KINDS:
            raise ValueError(f"event kind {kind!r} is not in EVENT_KINDS: the page would never hear it")
        payload = {"video_id": video_id, **data}
        size = len(json.dumps(payload))
        with self._lock:
            event = (next(self._ids), kind, payload)
            backlog = self._backlog.setdefault(video_id, deque())
            backlog.append((*event, size))
            self._bytes[video_id] = self._bytes.get(video_id, 0) + size
            while len(backlog) > BACKLOG or (self._bytes[video_id] > BACKLOG_BYTES and len(backlog) > 1):
                dropped = backlog.popleft()
                self._bytes[video_id] -= dropped[3]
                self._dropped[video_id] = dropped[0]
            subs = list(self._subs.get(video_id, ()))
        for sub in subs:
            sub.loop.call_soon_threadsafe(self._deliver, video_id, sub, event)
        return event[0]

    def backlog(self, video_id: int) -> list[tuple[int, str, dict[str, Any]]]:
        """The events of video ``video_id`` still kept for reconnecting clients: (id, kind, data), oldest first."""
        with self._lock:
            return [e[:3] for e in self._backlog.get(video_id, ())]

    def last_id(self, video_id: int) -> int:
        """Id of the latest event of video ``video_id`` (0 if none): load a video's state, then stream from here."""
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
        """SSE bytes for one client of video ``video_id``: missed events after ``last_id``, then live ones.

        A ``resync`` event comes first when events after ``last_id`` are no longer kept (the client reloads);
        ``limit``: end after that many events (None: never); ``keepalive``: seconds of silence after which a comment
        line is sent, so that proxies keep the connection open.
        """
        sub = _Subscriber(asyncio.get_running_loop())
        with self._lock:
            backlog = self._backlog.get(video_id, ())
            missed = [e[:3] for e in backlog if e[0] > last_id]
            # events after last_id were dropped from the backlog: the client must reload
            gap = 0 < last_id < self._dropped.get(video_id, 0)
            self._subs.setdefault(video_id, []).append(sub)
        sent = 0
        try:
            yield b": connected\n\n"
            if gap:
                yield format_sse(missed[0][0] - 1 if missed else last_id, "resync", {"video_id": video_id})
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
