"""Warm video sessions: caches of the store, rebuilt from it without running the model.

A session's tracked outputs live in the store (every frame's exact tracker state is a record, see
:mod:`samstream.studio.store.tracks`); :class:`StoredOutputs` reads them on demand and keeps the
recently used ones in memory. Rebuilding a session after a restart or an eviction therefore reads
the prompted frames' entries and the list of tracked frames, and nothing else: the first click on
any frame costs that frame's encoding, never a re-tracking.

Warm sessions share one memory budget (tracked outputs held, cached image features, cached
frames); the least recently used session not propagating is closed first when it is exceeded.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samstream.studio.rows import VideoRow
from samstream.studio.store import Store, StoredFrame
from samstream.video.engine import EngineCounts
from samstream.video.frame_outputs import FrameOutput, OutputStore
from samstream.video.predictor import VideoPredictor, VideoSession
from samstream.video.saved import EncodedFrameState, decode_entry, decode_output
from samstream.video.state import FrameEntry

__all__ = ["SessionCache", "StoredOutputs", "WarmSession", "add_counts"]


class StoredOutputs(OutputStore):
    """One object's tracked outputs: the store holds them all; the ``capacity`` most recently used are
    also in memory. Outputs put since the last :meth:`mark_saved` are never let go of (the store does
    not have them yet). Nothing here writes to the store: the annotator saves every change."""

    def __init__(self, load: Callable[[int], FrameOutput | None], stored: set[int], capacity: int = 32) -> None:
        self._load = load  # frame -> the stored output (read from the store)
        self._frames = set(stored)  # frames with a tracked output, in memory or in the store
        self._hot: OrderedDict[int, FrameOutput] = OrderedDict()
        self._unsaved: set[int] = set()
        self.capacity = max(1, capacity)
        self.reads = 0  # outputs read from the store (for tests and diagnostics)

    def get(self, frame: int) -> FrameOutput | None:
        """The tracked output of frame ``frame`` (None: none): from memory, else read from the store and kept in
        memory as the most recently used."""
        out = self._hot.get(frame)
        if out is not None:
            self._hot.move_to_end(frame)
            return out
        if frame not in self._frames:
            return None
        out = self._load(frame)
        self.reads += 1
        if out is None:  # the store has no output there (a stale list): forget the frame
            self._frames.discard(frame)
            return None
        self._keep(frame, out)
        return out

    def put(self, frame: int, out: FrameOutput) -> None:
        """Keep the tracker's new output ``out`` of frame ``frame`` in memory until it is saved (see
        :meth:`mark_saved`)."""
        self._frames.add(frame)
        self._unsaved.add(frame)
        self._keep(frame, out)

    def _keep(self, frame: int, out: FrameOutput) -> None:
        self._hot[frame] = out
        self._hot.move_to_end(frame)
        for old in list(self._hot):
            if len(self._hot) <= self.capacity:
                break
            if old not in self._unsaved:
                del self._hot[old]

    def mark_saved(self) -> None:
        """Every output put so far is in the store now."""
        self._unsaved.clear()

    def drop(self, frame: int) -> None:
        """Forget the output of frame ``frame`` (the tracker dropped it)."""
        self._frames.discard(frame)
        self._unsaved.discard(frame)
        self._hot.pop(frame, None)

    def frames(self) -> list[int]:
        """The frames with a tracked output, in memory or in the store, in order."""
        return sorted(self._frames)

    def __contains__(self, frame: int) -> bool:
        return frame in self._frames

    def __len__(self) -> int:
        return len(self._frames)

    def in_memory(self) -> list[FrameOutput]:
        """The outputs held in memory now (what the session's memory figure counts)."""
        return list(self._hot.values())

    def clear(self) -> None:
        """Forget every output, unsaved ones too (the store keeps what it has)."""
        self._frames.clear()
        self._unsaved.clear()
        self._hot.clear()


@dataclass
class WarmSession:
    """A video's open session and what the studio keeps beside it."""

    video: VideoRow
    session: VideoSession
    prompts: dict[tuple[int, int], list[dict[str, Any]]] = field(default_factory=dict)  # (obj, frame) -> steps
    unsettled: list[StoredFrame] = field(default_factory=list)  # prompted frames whose state is not stored yet

    def outputs(self) -> list[StoredOutputs]:
        """The output stores of the session's objects that read from the studio's store."""
        return [t.outputs for t in self.session.state.tracks() if isinstance(t.outputs, StoredOutputs)]

    def mark_saved(self) -> None:
        """Every object's outputs put so far are in the store now (they may leave memory)."""
        for store in self.outputs():
            store.mark_saved()

    def nbytes(self) -> int:
        """Memory held: tracked and prompted outputs, cached image features and preprocessed frames."""
        info, (h, w), size = self.session.frames.cache_info(), self.video.hw, self.session.model.image_size
        frames = info.raw * h * w * 3 + info.tensors * 3 * size * size * 4  # uint8 decoded, float32 preprocessed
        return self.session.tracker.nbytes() + self.session.tracker.engine.cache_nbytes() + frames


class SessionCache:
    """The warm sessions of a studio, within a memory budget (bytes)."""

    def __init__(self, store: Store, data_dir: Path, budget: int, options: dict[str, Any],
                 outputs_in_memory: int = 32) -> None:
        self.store, self.data_dir = store, data_dir
        self.budget = budget
        self.options = options  # VideoPredictor options of every session
        self.outputs_in_memory = outputs_in_memory
        self._warm: OrderedDict[int, WarmSession] = OrderedDict()
        self.builds = 0  # sessions built so far
        self.closed_counts = EngineCounts()  # model work of the sessions closed so far

    def __contains__(self, video_id: int) -> bool:
        return video_id in self._warm

    def peek(self, video_id: int) -> WarmSession | None:
        """The warm session of video ``video_id``, or None when it is cold (never builds one)."""
        return self._warm.get(video_id)

    def get(self, video_id: int, model: Any, keep: Callable[[int], bool]) -> WarmSession:
        """The warm session of video ``video_id``, built from the store with ``model`` when cold; then the least
        recently used others are closed to fit the budget, except those ``keep(vid)`` names (running ones)."""
        warm = self._warm.get(video_id)
        if warm is not None:
            self._warm.move_to_end(video_id)
            return warm
        warm = self._build(video_id, model)
        self._warm[video_id] = warm
        self.shrink(keep, video_id)
        return warm

    def shrink(self, keep: Callable[[int], bool], current: int | None = None) -> None:
        """Close the least recently used sessions until the warm ones fit the budget; never ``current`` nor one
        ``keep(vid)`` is True for (a video whose run goes on), and never the last one."""
        while len(self._warm) > 1 and sum(w.nbytes() for w in self._warm.values()) > self.budget:
            victim = next((v for v in self._warm if v != current and not keep(v)), None)
            if victim is None:
                return
            self.drop(victim)

    def drop(self, video_id: int) -> None:
        """Close the warm session of video ``video_id`` (nothing happens when it is cold); its model work is added
        to :attr:`closed_counts`."""
        warm = self._warm.pop(video_id, None)
        if warm is not None:
            self.closed_counts = add_counts(self.closed_counts, warm.session.tracker.counts)
            warm.session.close()

    def drop_all(self) -> None:
        """Close every warm session."""
        for vid in list(self._warm):
            self.drop(vid)

    def video_ids(self) -> list[int]:
        """The videos with a warm session, least recently used first."""
        return list(self._warm)

    # ------------------------------------------------------------------ building
    def _build(self, video_id: int, model: Any) -> WarmSession:
        video = self.store.videos.get(video_id)
        stored = self.store.tracks.frames_of(video_id)
        tracked: dict[int, set[int]] = {}
        for row in stored:
            if row.has_tracked:
                tracked.setdefault(row.obj_id, set()).add(row.frame)
        holder: dict[str, Any] = {}

        def outputs(obj_id: int) -> OutputStore:
            def load(frame: int) -> FrameOutput | None:
                data = self.store.tracks.tracked_state(video_id, obj_id, frame)
                return None if data is None else decode_output(data, holder["session"].tracker)
            return StoredOutputs(load, tracked.get(obj_id, set()), self.outputs_in_memory)

        # frame 0 is not encoded up front: a rebuilt session's first click may be on any frame
        session = VideoPredictor(model, **self.options, method=video.method).open(
            self.data_dir / video.path, outputs=outputs, warm_up=False)
        holder["session"] = session
        try:
            warm = WarmSession(video, session)
            entries: dict[int, dict[int, FrameEntry]] = {}
            for row in stored:
                if row.prompts is not None:
                    warm.prompts[(row.obj_id, row.frame)] = row.prompts
                if row.prompts is not None and row.entry is None and row.reverse is None:
                    warm.unsettled.append(row)  # prompts kept without a state (an import, an older data dir)
                    continue
                entry = decode_entry(EncodedFrameState(row.reverse, row.entry, None), session.tracker)
                if entry is not None:
                    entries.setdefault(row.obj_id, {})[row.frame] = entry
            for obj_id in sorted(set(entries) | set(tracked)):
                session.tracker.restore_object(obj_id, entries.get(obj_id, {}))
            session.tracker.record_changes()
        except BaseException:
            session.close()
            raise
        self.builds += 1
        return warm


def add_counts(a: EngineCounts, b: EngineCounts) -> EngineCounts:
    """The model work of ``a`` and ``b`` added up, count by count."""
    return EngineCounts(a.images_encoded + b.images_encoded, a.frames_tracked + b.frames_tracked,
                        a.prompts_decoded + b.prompts_decoded, a.memories_encoded + b.memories_encoded)
