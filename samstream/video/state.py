"""Typed state of a video session: objects, their prompts and their memories.

Nothing here runs the model. A :class:`SessionState` holds one :class:`ObjectTrack` per object id;
a track holds the object's prompts per frame and one :class:`FrameOutput` per frame it was
segmented on, split into conditioning frames (frames with prompts), non-conditioning frames
(frames reached by propagation) and pending outputs (prompted but not yet committed to memory).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field

import torch
from torch import Tensor

from samstream.errors import UnknownObjectError


@dataclass
class PointPrompt:
    """Clicks (and box corners, labels 2 and 3) on one frame, at model input scale."""

    coords: Tensor  # (1, N, 2) float32
    labels: Tensor  # (1, N) int32

    def extended(self, coords: Tensor, labels: Tensor) -> "PointPrompt":
        return PointPrompt(torch.cat([self.coords, coords], 1), torch.cat([self.labels, labels], 1))


@dataclass
class FrameOutput:
    """One object's result on one frame, and the memory made from it."""

    low_res_logits: Tensor | None  # (1, 1, S/4, S/4) mask logits (holes filled); None once only the pointer is kept
    obj_ptr: Tensor  # (1, C) object pointer
    object_score: Tensor  # (1, 1) object-presence logit
    memory: Tensor | None = None  # (1, mem_dim, h, w) encoded memory, None until committed
    memory_pos: Tensor | None = None  # (1, mem_dim, h, w) its position encoding (shared by all)

    def nbytes(self) -> int:
        tensors = [self.low_res_logits, self.obj_ptr, self.object_score, self.memory]
        return sum(t.numel() * t.element_size() for t in tensors if t is not None)


@dataclass
class ObjectTrack:
    """Everything known about one object in one video."""

    obj_id: int
    points: dict[int, PointPrompt] = field(default_factory=dict)  # frame -> clicks
    masks: dict[int, Tensor] = field(default_factory=dict)  # frame -> (1, 1, S, S) binary mask prompt
    cond: dict[int, FrameOutput] = field(default_factory=dict)  # committed conditioning frames
    non_cond: MutableMapping[int, FrameOutput] = field(default_factory=dict)  # committed tracked frames
    pending_cond: dict[int, FrameOutput] = field(default_factory=dict)  # prompted, not yet in memory
    pending_non_cond: dict[int, FrameOutput] = field(default_factory=dict)  # corrections kept as non-cond
    tracked: dict[int, bool] = field(default_factory=dict)  # frame -> was it reached in reverse

    def output_on(self, frame: int, prefer_cond: bool | None = None) -> FrameOutput | None:
        """The freshest output on a frame: pending first, then committed."""
        pendings = (self.pending_cond, self.pending_non_cond)
        if prefer_cond is False:
            pendings = (self.pending_non_cond,)
        elif prefer_cond is True:
            pendings = (self.pending_cond,)
        for store in (*pendings, self.cond, self.non_cond):
            if frame in store:
                return store[frame]
        return None

    def prompted_frames(self) -> set[int]:
        return set(self.points) | set(self.masks)

    def clear_frame(self, frame: int) -> None:
        """Forget prompts on a frame; a committed conditioning output stays as a tracked output."""
        self.points.pop(frame, None)
        self.masks.pop(frame, None)
        self.pending_cond.pop(frame, None)
        self.pending_non_cond.pop(frame, None)
        out = self.cond.pop(frame, None)
        if out is not None:
            self.non_cond[frame] = out
            self.tracked.pop(frame, None)

    def reset(self) -> None:
        for store in (self.points, self.masks, self.cond, self.non_cond, self.pending_cond,
                      self.pending_non_cond, self.tracked):
            store.clear()

    def nbytes(self) -> int:
        """Bytes held in memory (outputs spilled to disk not counted)."""
        tracked = getattr(self.non_cond, "in_memory_outputs", self.non_cond.values)()
        outs = [*self.cond.values(), *tracked, *self.pending_cond.values(),
                *self.pending_non_cond.values()]
        return sum(o.nbytes() for o in outs)


@dataclass
class SessionState:
    """Objects of one video session, in the order they were first prompted."""

    num_frames: int
    video_hw: tuple[int, int]
    objects: dict[int, ObjectTrack] = field(default_factory=dict)
    new_outputs: Callable[[], MutableMapping[int, FrameOutput]] = dict  # store of each new track's non_cond

    @property
    def obj_ids(self) -> list[int]:
        return list(self.objects)

    def track(self, obj_id: int, create: bool = False) -> ObjectTrack:
        track = self.objects.get(obj_id)
        if track is None:
            if not create:
                known = ", ".join(str(i) for i in self.objects) or "none"
                raise UnknownObjectError(f"obj_id: unknown object {obj_id!r} (known ids: {known})")
            track = self.objects[obj_id] = ObjectTrack(obj_id, non_cond=self.new_outputs())
        return track

    def remove(self, obj_id: int) -> ObjectTrack:
        track = self.track(obj_id)
        del self.objects[obj_id]
        track.non_cond.clear()  # its outputs (and any spilled to disk) are gone with it
        return track

    def reset(self) -> None:
        for track in self.objects.values():
            track.non_cond.clear()
        self.objects.clear()
