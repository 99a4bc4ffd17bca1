"""Typed state of a video session: objects, their prompts and their memories.

Nothing here runs the model. A :class:`SessionState` holds one :class:`ObjectTrack` per object id.
A track keeps, per frame, one :class:`FrameEntry`: the prompts given on the frame, its committed
conditioning output (a prompted frame in memory), outputs of prompts not yet committed, and the
direction it was tracked in. Outputs of tracked (non-conditioning) frames go to the track's
:class:`~samstream.video.frame_outputs.OutputStore` (in memory, or partly on disk for long videos:
:mod:`samstream.video.spill`).
The rules that change a track (prompt, commit, record, prune, bound the conditioning frames,
clear a frame, reset) are its methods; no other module touches its stores.

A track can also say exactly what it holds on one frame (:class:`FrameState`: the frame's entry and
its tracked output) and be given such a state back, bit for bit. With change recording on
(:meth:`ObjectTrack.record_changes`) it remembers which frames any rule changed, so a front end that
keeps its own copy of the state (the studio's store) saves only those frames after each step, and
undo restores only those.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from samstream.errors import PromptError, UnknownObjectError
from samstream.video.frame_outputs import FrameOutput, MemoryOutputs, OutputStore


@dataclass
class PointPrompt:
    """Clicks (and box corners, labels 2 and 3) on one frame, at model input scale."""

    coords: Tensor  # (1, N, 2) float32
    labels: Tensor  # (1, N) int32

    def extended(self, coords: Tensor, labels: Tensor) -> "PointPrompt":
        return PointPrompt(torch.cat([self.coords, coords], 1), torch.cat([self.labels, labels], 1))


@dataclass
class FrameEntry:
    """What one object has on one frame (all None: nothing; the entry is then dropped)."""

    points: PointPrompt | None = None  # clicks (and box corners)
    mask: Tensor | None = None  # (1, 1, S, S) binary mask prompt
    cond: FrameOutput | None = None  # committed conditioning output (memory included)
    pending_cond: FrameOutput | None = None  # prompted, to become a conditioning frame on commit
    pending_tracked: FrameOutput | None = None  # a correction kept as a tracked frame on commit
    reverse: bool | None = None  # the direction the frame was tracked in; None: never tracked
    cond_seq: int = 0  # order in which conditioning outputs (and pending ones) were added:
    pending_seq: int = 0  # memory attention reads conditioning frames in that order

    def is_empty(self) -> bool:
        return all(v is None for v in (self.points, self.mask, self.cond, self.pending_cond,
                                       self.pending_tracked, self.reverse))


@dataclass(frozen=True)
class FrameState:
    """Everything one object holds on one frame: its entry (prompts, conditioning and pending
    outputs, direction reached) and its tracked output. Both None: nothing (the frame is unknown).

    Outputs are shared, not copied: tracks never modify an output in place once it has a memory
    (a pending output gets its memory at commit, before any state of it is taken for keeping).
    """

    entry: FrameEntry | None = None
    tracked: FrameOutput | None = None

    def is_empty(self) -> bool:
        return (self.entry is None or self.entry.is_empty()) and self.tracked is None


class ObjectTrack:
    """Everything known about one object in one video, and the rules that change it."""

    def __init__(self, obj_id: int, outputs: OutputStore | None = None,
                 entries: dict[int, FrameEntry] | None = None, next_seq: int = 1) -> None:
        """``entries`` and ``next_seq``: those of a :meth:`snapshot`, to rebuild a saved track."""
        self.obj_id = obj_id
        self._frames: dict[int, FrameEntry] = {t: e for t, e in (entries or {}).items() if not e.is_empty()}
        self._tracked: OutputStore = outputs if outputs is not None else MemoryOutputs()
        self._next_seq = next_seq  # the next conditioning / pending order number
        self._cond_index: dict[int, FrameOutput] | None = None  # conditioning(), rebuilt when it changes
        self._changes: set[int] | None = None  # frames changed since take_changes(), when recording

    # ------------------------------------------------------------ changes
    def record_changes(self) -> None:
        """From now on remember which frames change (see :meth:`take_changes`)."""
        if self._changes is None:
            self._changes = set()

    def take_changes(self) -> set[int]:
        """Frames whose state changed since the last call (empty when not recording)."""
        changed, self._changes = self._changes, (set() if self._changes is not None else None)
        return changed or set()

    def _touch(self, *frames: int) -> None:
        if self._changes is not None:
            self._changes.update(frames)

    def _take_seq(self) -> int:
        self._next_seq += 1
        return self._next_seq - 1

    # ------------------------------------------------------------ reading
    def _entry(self, frame: int) -> FrameEntry:
        entry = self._frames.get(frame)
        if entry is None:
            entry = self._frames[frame] = FrameEntry()
        return entry

    def _tidy(self, frame: int) -> None:
        entry = self._frames.get(frame)
        if entry is not None and entry.is_empty():
            del self._frames[frame]

    def points_on(self, frame: int) -> PointPrompt | None:
        entry = self._frames.get(frame)
        return None if entry is None else entry.points

    def mask_on(self, frame: int) -> Tensor | None:
        entry = self._frames.get(frame)
        return None if entry is None else entry.mask

    def prompted_frames(self) -> list[int]:
        """Frames with clicks, a box or a mask of this object, in increasing order."""
        return sorted(t for t, e in self._frames.items() if e.points is not None or e.mask is not None)

    def reached(self, frame: int) -> bool | None:
        """The direction ``frame`` was tracked in (True: reverse), None if it never was."""
        entry = self._frames.get(frame)
        return None if entry is None else entry.reverse

    def reached_frames(self) -> list[int]:
        return sorted(t for t, e in self._frames.items() if e.reverse is not None)

    def conditioning(self) -> dict[int, FrameOutput]:
        """frame -> committed conditioning output, in the order they were added (do not modify)."""
        if self._cond_index is None:  # read on every tracked frame: kept until a conditioning frame changes
            entries = sorted((e.cond_seq, t) for t, e in self._frames.items() if e.cond is not None)
            self._cond_index = {t: self._frames[t].cond for _, t in entries}  # type: ignore[misc]
        return self._cond_index

    def cond_frames(self) -> list[int]:
        return sorted(self.conditioning())

    def is_cond(self, frame: int) -> bool:
        entry = self._frames.get(frame)
        return entry is not None and entry.cond is not None

    def is_prompted(self, frame: int) -> bool:
        """Whether the frame holds this object's prompts (clicks, a box or a mask)."""
        entry = self._frames.get(frame)
        return entry is not None and (entry.points is not None or entry.mask is not None)

    def tracked_output(self, frame: int) -> FrameOutput | None:
        return self._tracked.get(frame)

    def tracked_frames(self) -> list[int]:
        return self._tracked.frames()

    @property
    def outputs(self) -> OutputStore:
        """The store of tracked outputs (read it; change it through the track's methods)."""
        return self._tracked

    def pending_frames(self, cond: bool) -> list[int]:
        """Frames with an uncommitted output that will be a conditioning (or tracked) frame."""
        name = "pending_cond" if cond else "pending_tracked"
        return sorted(t for t, e in self._frames.items() if getattr(e, name) is not None)

    def has_pending(self) -> bool:
        return any(e.pending_cond is not None or e.pending_tracked is not None for e in self._frames.values())

    def output_on(self, frame: int, prefer_cond: bool | None = None) -> FrameOutput | None:
        """The freshest output on a frame: pending first (of the preferred kind), then committed."""
        entry = self._frames.get(frame)
        if entry is not None:
            pendings = {None: (entry.pending_cond, entry.pending_tracked), True: (entry.pending_cond,),
                        False: (entry.pending_tracked,)}[prefer_cond]
            for out in (*pendings, entry.cond):
                if out is not None:
                    return out
        return self._tracked.get(frame)

    def final_output(self, frame: int) -> FrameOutput | None:
        """The committed output on a frame: its conditioning output, else its tracked one."""
        entry = self._frames.get(frame)
        if entry is not None and entry.cond is not None:
            return entry.cond
        return self._tracked.get(frame)

    # ------------------------------------------------------------ prompts
    def set_points(self, frame: int, points: PointPrompt, clear_old: bool = True) -> None:
        """Clicks on a frame: they replace the frame's prompts, or extend its clicks (``clear_old=False``)."""
        entry = self._entry(frame)
        old = entry.points
        entry.points = old.extended(points.coords, points.labels) if (old is not None and not clear_old) else points
        entry.mask = None
        self._touch(frame)

    def set_mask(self, frame: int, mask: Tensor) -> None:
        """A (1, 1, S, S) binary mask on a frame; it replaces the frame's clicks."""
        entry = self._entry(frame)
        entry.mask, entry.points = mask, None
        self._touch(frame)

    def set_pending(self, frame: int, out: FrameOutput, cond: bool) -> None:
        """The output of a frame's prompts, to be committed to memory by :meth:`commit`."""
        entry = self._entry(frame)
        if cond:
            if entry.pending_cond is None:
                entry.pending_seq = self._take_seq()
            entry.pending_cond = out
        else:
            entry.pending_tracked = out
        self._touch(frame)

    def commit(self, encode: Callable[[int, FrameOutput], None], clear_reach: int | None = None) -> None:
        """Move pending outputs into memory, ``encode(frame, out)`` giving each its memory.

        Corrections kept as tracked frames are committed first, then conditioning frames (in the
        order they were prompted). ``clear_reach``: tracked outputs within that many frames of each
        committed frame are forgotten. A frame that is a conditioning frame has no tracked output.
        """
        tracked = [(t, e) for t, e in sorted(self._frames.items()) if e.pending_tracked is not None]
        for t, entry in tracked:
            out, entry.pending_tracked = entry.pending_tracked, None
            encode(t, out)  # type: ignore[arg-type]
            self._tracked.put(t, out)  # type: ignore[arg-type]
            self._touch(t)
            if clear_reach is not None:
                self.clear_around(t, clear_reach)
        cond = sorted(((e.pending_seq, t, e) for t, e in self._frames.items() if e.pending_cond is not None))
        for _, t, entry in cond:
            out, entry.pending_cond = entry.pending_cond, None
            encode(t, out)  # type: ignore[arg-type]
            if entry.cond is None:
                entry.cond_seq = self._take_seq()
            entry.cond = out
            self._cond_index = None
            self._touch(t)
            if clear_reach is not None:
                self.clear_around(t, clear_reach)
        if not self.cond_frames():
            raise PromptError(f"propagate: object {self.obj_id} has no prompts; add some or remove it")
        for t in self.cond_frames():
            if t in self._tracked:
                self._tracked.drop(t)
                self._touch(t)

    # ------------------------------------------------------------ tracking
    def record(self, frame: int, out: FrameOutput) -> None:
        """The output of tracking this object into ``frame`` (its memory included)."""
        self._tracked.put(frame, out)
        self._touch(frame)

    def record_cond(self, frame: int, out: FrameOutput) -> None:
        """A tracked frame's output that the tracking method keeps as a conditioning frame (DAM4SAM's
        distractor-resolving memory): committed at once, its memory included."""
        entry = self._entry(frame)
        entry.cond, entry.cond_seq = out, self._take_seq()
        self._cond_index = None
        self._tracked.drop(frame)
        self._touch(frame)

    def release_cond(self, frame: int) -> None:
        """Forget a conditioning output that no prompt made (a method's), before the frame is tracked again."""
        entry = self._frames.get(frame)
        if entry is None or entry.cond is None or self.is_prompted(frame):
            return
        entry.cond = None
        self._cond_index = None
        self._tidy(frame)
        self._touch(frame)

    def mark_reached(self, frame: int, reverse: bool) -> None:
        entry = self._entry(frame)
        if entry.reverse is not reverse:
            entry.reverse = reverse
            self._touch(frame)

    def clear_around(self, frame: int, reach: int) -> None:
        """Forget tracked outputs within ``reach`` frames of ``frame`` (a new prompt outdates them)."""
        for t in self._tracked.frames():
            if frame - reach <= t <= frame + reach:
                self._tracked.drop(t)
                self._touch(t)

    def prune(self, memory_frames: set[int], pointer_frames: set[int]) -> None:
        """Keep only what tracking can still read: outputs of ``memory_frames``, pointers of
        ``pointer_frames``; prompts and tracking marks of other frames (not conditioning ones) go too."""
        for t in self._tracked.frames():
            if t in memory_frames:
                continue
            out = self._tracked.get(t)
            if t in pointer_frames and out is not None:
                if out.memory is not None or out.low_res_logits is not None:
                    self._tracked.put(t, out.pointer_only())
            else:
                self._tracked.drop(t)
            self._touch(t)
        keep = memory_frames | pointer_frames
        for t, entry in list(self._frames.items()):
            if t not in keep and entry.cond is None:
                entry.points = entry.mask = entry.reverse = None
                self._tidy(t)
                self._touch(t)

    def bound_cond(self, limit: int) -> None:
        """At most ``limit`` conditioning frames: the first, then the most recent (see stream.py)."""
        frames = self.cond_frames()
        if len(frames) <= limit:
            return
        for t in frames[1 : len(frames) - limit + 1]:
            entry = self._frames[t]
            entry.cond = entry.points = entry.mask = None
            self._tidy(t)
            self._touch(t)
        self._cond_index = None

    # ------------------------------------------------------------ editing
    def clear_frame(self, frame: int) -> None:
        """Forget prompts on a frame; a committed conditioning output stays as a tracked output."""
        entry = self._frames.get(frame)
        if entry is None:
            return
        entry.points = entry.mask = entry.pending_cond = entry.pending_tracked = None
        if entry.cond is not None:
            self._tracked.put(frame, entry.cond)
            entry.cond = entry.reverse = None
            self._cond_index = None
        self._tidy(frame)
        self._touch(frame)

    def reset(self) -> None:
        self._touch(*self._frames, *self._tracked.frames())
        self._frames.clear()
        self._tracked.clear()
        self._cond_index = None

    # ------------------------------------------------------------ exact states of frames
    def frames(self) -> list[int]:
        """Every frame this track holds anything on (an entry or a tracked output), in order."""
        return sorted(set(self._frames) | set(self._tracked.frames()))

    def frame_state(self, frame: int) -> FrameState:
        """What the track holds on ``frame`` (a copy of the entry; outputs shared, see :class:`FrameState`)."""
        entry = self._frames.get(frame)
        return FrameState(None if entry is None else replace(entry), self._tracked.get(frame))

    def set_frame_state(self, frame: int, state: FrameState) -> None:
        """Put back a state :meth:`frame_state` gave (on this track, or one saved from it): afterwards
        the frame holds exactly that, so results and later tracking are as they were then."""
        entry = None if state.entry is None or state.entry.is_empty() else replace(state.entry)
        old = self._frames.get(frame)
        if entry is None:
            self._frames.pop(frame, None)
        else:
            self._frames[frame] = entry
            # order numbers stay unique: later prompts are numbered after every restored one
            self._next_seq = max(self._next_seq, entry.cond_seq + 1, entry.pending_seq + 1)
        if (old is not None and old.cond is not None) or (entry is not None and entry.cond is not None):
            self._cond_index = None
        if state.tracked is None:
            self._tracked.drop(frame)
        else:
            self._tracked.put(frame, state.tracked)
        self._touch(frame)

    def is_empty(self) -> bool:
        """Nothing on any frame (an object whose every state was taken back)."""
        return not self._frames and not len(self._tracked)

    # ------------------------------------------------------------ saving
    @property
    def next_seq(self) -> int:
        """The order number the next prompt will get (saved with the track)."""
        return self._next_seq

    def snapshot(self) -> tuple[dict[int, FrameEntry], dict[int, FrameOutput], int]:
        """Copies of the per-frame entries, the tracked outputs and the order counter (to save the track)."""
        entries = {t: replace(e) for t, e in sorted(self._frames.items())}
        tracked = {t: out for t in self._tracked.frames() if (out := self._tracked.get(t)) is not None}
        return entries, tracked, self._next_seq

    def nbytes(self) -> int:
        """Bytes held in memory (outputs spilled to disk not counted)."""
        outs: list[FrameOutput | None] = [*self._tracked.in_memory()]
        for e in self._frames.values():
            outs += [e.cond, e.pending_cond, e.pending_tracked]
        return sum(o.nbytes() for o in outs if o is not None)

    def num_outputs(self) -> int:
        """Outputs held (conditioning, tracked and pending)."""
        pending = sum((e.cond is not None) + (e.pending_cond is not None) + (e.pending_tracked is not None)
                      for e in self._frames.values())
        return pending + len(self._tracked)


@dataclass
class SessionState:
    """Objects of one video session, in the order they were first prompted.

    ``num_frames`` None: a stream, whose length is unknown. ``new_outputs(obj_id)`` makes the store of each
    new track's tracked outputs.
    """

    num_frames: int | None
    video_hw: tuple[int, int]
    new_outputs: Callable[[int], OutputStore] = lambda obj_id: MemoryOutputs()

    def __post_init__(self) -> None:
        self._objects: dict[int, ObjectTrack] = {}
        self._recording = False

    def record_changes(self) -> None:
        """From now on every track (present and future) remembers the frames that change."""
        self._recording = True
        for track in self._objects.values():
            track.record_changes()

    def take_changes(self) -> dict[int, set[int]]:
        """obj_id -> frames changed since the last call, for objects with changes."""
        changes = {t.obj_id: t.take_changes() for t in self._objects.values()}
        return {obj_id: frames for obj_id, frames in changes.items() if frames}

    @property
    def obj_ids(self) -> list[int]:
        return list(self._objects)

    def tracks(self) -> list[ObjectTrack]:
        return list(self._objects.values())

    def __contains__(self, obj_id: int) -> bool:
        return obj_id in self._objects

    def __len__(self) -> int:
        return len(self._objects)

    def track(self, obj_id: int, create: bool = False) -> ObjectTrack:
        track = self._objects.get(obj_id)
        if track is None:
            if not create:
                known = ", ".join(str(i) for i in self._objects) or "none"
                raise UnknownObjectError(f"obj_id: unknown object {obj_id!r} (known ids: {known})")
            track = self._objects[obj_id] = ObjectTrack(obj_id, self.new_outputs(obj_id))
            if self._recording:
                track.record_changes()
        return track

    def remove(self, obj_id: int) -> list[int]:
        """Forget an object (its outputs, and any spilled to disk, are gone); returns its prompted frames."""
        track = self.track(obj_id)
        del self._objects[obj_id]
        prompted = track.prompted_frames()
        track.reset()
        return prompted

    def reset(self) -> None:
        for track in self._objects.values():
            track.reset()
        self._objects.clear()

    def add_track(self, track: ObjectTrack) -> None:
        """Add a restored track (see :mod:`samstream.video.saved`)."""
        self._objects[track.obj_id] = track
        if self._recording:
            track.record_changes()

