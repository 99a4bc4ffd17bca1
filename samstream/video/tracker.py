"""The video tracker core: typed per-object state plus the engine, with the verbs every front end needs.

:class:`Tracker` is what :class:`~samstream.video.predictor.VideoSession` (random access over a
finite video), :class:`~samstream.video.stream.StreamTracker` (an unbounded stream, one frame at a
time) and ``samstream.compat.SAM2VideoPredictor`` are built on. It knows nothing of where frames
come from: ``frames(index)`` returns the preprocessed (3, S, S) frame, and ``num_frames`` is the
video's length, or None for a stream of unknown length.

>>> tracker = Tracker(model, VideoOptions(), frames.tensor, video_hw=(480, 640), num_frames=None)
>>> tracker.add_points(0, obj_id=1, points=[[210, 350]], labels=[1])   # prompt, not yet in memory
>>> tracker.commit()                                                     # prompts become memories
>>> result = tracker.track_frame(1)                                      # every object on frame 1
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from samstream.errors import InvalidInputError, PromptError, UnknownObjectError
from samstream.image.prompts import check_obj_id, prepare_prompts
from samstream.prompt_rules import binary_mask
from samstream.model.sam2 import SAM2Model
from samstream.video.engine import Engine, EngineCounts
from samstream.video.memory_bank import clear_reach
from samstream.video.options import VideoOptions
from samstream.video.frames.prefetch import FramePrefetcher
from samstream.video.frame_outputs import FrameOutput, MemoryOutputs, OutputStore
from samstream.video.methods import TrackingMethod
from samstream.video.state import FrameEntry, FrameState, ObjectTrack, PointPrompt, SessionState


@dataclass
class FrameResult:
    """All objects' results on one frame, at video resolution (tensors on the CPU)."""

    frame_idx: int
    obj_ids: list[int]
    logits: Tensor  # (N, H, W) float32 mask logits; -1024 where an object has no output
    object_scores: Tensor  # (N,) object-presence logits (NaN where an object has no output)
    # objects a propagation step just tracked into this frame (or reached on it, keeping a prompted
    # frame's output); the others' results are what they held. Empty outside propagation.
    propagated: tuple[int, ...] = ()
    method: str = "sam2"  # the tracking method that made the masks (samstream.video.methods)

    @property
    def masks(self) -> Tensor:
        """(N, H, W) bool masks."""
        return self.logits > 0

    def mask(self, obj_id: int) -> Tensor:
        """(H, W) bool mask of one object."""
        if obj_id not in self.obj_ids:
            known = ", ".join(str(i) for i in self.obj_ids) or "none"
            raise UnknownObjectError(f"obj_id: no object {obj_id!r} on frame {self.frame_idx} (objects: {known})")
        return self.masks[self.obj_ids.index(obj_id)]


class Tracker:
    """Objects tracked through one video or stream with SAM 2's memory.

    Prompts (:meth:`add_points`, :meth:`add_box`, :meth:`add_mask`) give an output at once but
    enter memory only at :meth:`commit`; :meth:`track_frame` then tracks every object into a frame
    it has no prompt on. ``options.strict_prompts`` False accepts what the official predictor
    accepts (clicks outside the frame, labels -1, 2 and 3).
    """

    def __init__(
        self,
        model: SAM2Model,
        options: VideoOptions,
        frames: Callable[[int], Tensor],
        video_hw: tuple[int, int],
        num_frames: int | None,
        outputs: Callable[[int], OutputStore] | None = None,
    ) -> None:
        """``outputs(obj_id)`` makes the store of an object's tracked outputs (default: in memory)."""
        self.model = model
        self.options = options
        self.state = SessionState(num_frames, video_hw, outputs or (lambda obj_id: MemoryOutputs()))
        self.engine = Engine(model, options, frames, self.state)

    # the options a session may change as it goes (the others fix how its state is stored)
    CHANGEABLE = frozenset({"fill_hole_area", "non_overlap_masks", "clear_non_cond_mem_around_input",
                            "add_all_frames_to_correct_as_cond", "binarize_mask_from_pts", "batch_objects",
                            "tracking", "strict_prompts", "max_cond_frames_in_attn",
                            "feature_cache_size", "method"})

    def update_options(self, **changes: Any) -> None:
        """Change options for the following calls (outputs already computed stay as they are)."""
        fixed = sorted(set(changes) - self.CHANGEABLE)
        if fixed:
            raise InvalidInputError(f"update_options: {', '.join(fixed)} cannot change in an open session "
                                    f"(changeable: {', '.join(sorted(self.CHANGEABLE))})")
        self.options = replace(self.options, **changes)
        self.engine.set_options(self.options)

    @property
    def num_frames(self) -> int | None:
        """The video's length; None for a stream."""
        return self.state.num_frames

    @property
    def video_hw(self) -> tuple[int, int]:
        return self.state.video_hw

    @property
    def obj_ids(self) -> list[int]:
        return self.state.obj_ids

    def track(self, obj_id: int) -> ObjectTrack:
        """An object's track (read it; change it through the tracker's verbs)."""
        return self.state.track(check_obj_id(obj_id))

    def check_frame(self, frame: Any) -> int:
        if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)):
            raise InvalidInputError(f"frame: expected an integer frame index, got {frame!r}")
        n = self.num_frames
        if int(frame) < 0 or (n is not None and int(frame) >= n):
            bounds = f"frames 0 to {n - 1}" if n is not None else "frames from 0"
            raise InvalidInputError(f"frame: {frame} is outside the video ({bounds})")
        return int(frame)

    # --------------------------------------------------------------- prompts
    def add_points(self, frame: int, obj_id: int, points: Any, labels: Any, clear_old: bool = True,
                   normalize_coords: bool = True) -> FrameResult:
        """Clicks: pixel (x, y) ``points`` (N, 2), ``labels`` (N,) 1 = object, 0 = background.

        ``clear_old=False`` adds the clicks to the frame's earlier ones (a correction).
        """
        return self.add_clicks(frame, obj_id, points, labels, None, clear_old, normalize_coords)

    def add_box(self, frame: int, obj_id: int, box: Any, points: Any = None, labels: Any = None,
                normalize_coords: bool = True) -> FrameResult:
        """A box (x0, y0, x1, y1), optionally with clicks; replaces the frame's earlier clicks."""
        return self.add_clicks(frame, obj_id, points, labels, box, True, normalize_coords)

    def add_clicks(self, frame: int, obj_id: int, points: Any, labels: Any, box: Any = None,
                   clear_old: bool = True, normalize_coords: bool = True) -> FrameResult:
        """Clicks and/or a box on a frame (the general form of :meth:`add_points` and :meth:`add_box`)."""
        frame, obj_id = self.check_frame(frame), check_obj_id(obj_id)
        if points is None and box is None:
            raise PromptError("points: give points with labels, or a box")
        if box is not None and not clear_old:
            raise PromptError("box: a box must come before any click on a frame; use clear_old=True")
        prompts = prepare_prompts(points, labels, box, None, self.video_hw, self.model.image_size,
                                  torch.device("cpu"), normalize_coords, strict=self.options.strict_prompts)
        if prompts.batched or prompts.batch_size != 1:
            raise PromptError("points: one object at a time; give (N, 2) points and (N,) labels")
        if box is not None and points is None and self.engine.method.prompt_box_as_mask:
            # the method prompts a box as the mask the decoder alone makes of it (DAM4SAM's start)
            with torch.inference_mode():
                mask = self.engine.box_mask(frame, PointPrompt(prompts.coords, prompts.labels))  # type: ignore[arg-type]
            return self.add_mask(frame, obj_id, mask.numpy())
        track = self.state.track(obj_id, create=True)
        track.set_points(frame, PointPrompt(prompts.coords, prompts.labels), clear_old)  # type: ignore[arg-type]
        return self._run_prompt(track, frame, use_previous=True)

    def add_mask(self, frame: int, obj_id: int, mask: Any) -> FrameResult:
        """A binary (H, W) mask of the object on a frame (any size; resized to the model input)."""
        frame, obj_id = self.check_frame(frame), check_obj_id(obj_id)
        m = torch.from_numpy(binary_mask(mask)).float()[None, None]  # (1, 1, H, W)
        size = self.model.image_size
        if m.shape[-2:] != (size, size):
            m = F.interpolate(m, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
            m = (m >= 0.5).float()
        track = self.state.track(obj_id, create=True)
        track.set_mask(frame, m)
        return self._run_prompt(track, frame, use_previous=False)

    def add_object(self, obj_id: int) -> None:
        """Know an object before it has prompts (the official predictor does so on some calls)."""
        self.state.track(check_obj_id(obj_id), create=True)

    def _run_prompt(self, track: ObjectTrack, frame: int, use_previous: bool) -> FrameResult:
        reached = track.reached(frame)
        is_init = reached is None
        reverse = bool(reached)
        is_cond = is_init or self.options.add_all_frames_to_correct_as_cond
        prev = track.output_on(frame, prefer_cond=is_cond) if use_previous else None
        with torch.inference_mode():
            out = self.engine.prompt(track, frame, track.points_on(frame), track.mask_on(frame), is_init,
                                     reverse, prev.low_res_logits if prev is not None else None)
        track.set_pending(frame, out, is_cond)
        return self.result_on(frame, is_cond)

    def has_pending(self) -> bool:
        """Whether some prompt's output is not yet in memory."""
        return any(t.has_pending() for t in self.state.tracks())

    def tracks_of(self, obj_ids: Sequence[int] | None) -> list[ObjectTrack]:
        """The tracks of ``obj_ids`` in session order (None: every object)."""
        if obj_ids is None:
            return self.state.tracks()
        wanted = {check_obj_id(i) for i in obj_ids}
        for obj_id in wanted:
            self.state.track(obj_id)  # UnknownObjectError names the id
        return [t for t in self.state.tracks() if t.obj_id in wanted]

    def commit(self, obj_ids: Sequence[int] | None = None) -> None:
        """Encode the memories of pending prompt outputs (before tracking): of ``obj_ids``, or all."""
        if not len(self.state):
            raise PromptError("propagate: no object has prompts; add points, a box or a mask first")
        reach = None
        if self.options.clear_non_cond_mem_around_input:
            reach = self._clear_reach()
        with torch.inference_mode():
            for track in self.tracks_of(obj_ids):
                track.commit(self._encode, reach)

    def _encode(self, frame: int, out: FrameOutput) -> None:
        self.engine.commit(frame, out)

    def _clear_reach(self) -> int:
        return clear_reach(self.model.cfg.memory, self.engine.policy)

    def first_cond_frame(self, obj_ids: Sequence[int] | None = None) -> int:
        """The earliest committed conditioning frame of ``obj_ids`` (default: any object): where propagation starts."""
        frames = [t for track in self.tracks_of(obj_ids) for t in track.cond_frames()]
        if not frames:
            raise PromptError("propagate: no object has prompts; add points, a box or a mask first")
        return min(frames)

    def next_prompted_frame(self, obj_id: int, frame: int, reverse: bool) -> int | None:
        """An object's first frame with prompts after ``frame`` in the tracking direction, or None."""
        frames = self.track(obj_id).prompted_frames()
        later = [t for t in frames if (t < frame if reverse else t > frame)]
        if not later:
            return None
        return max(later) if reverse else min(later)

    # -------------------------------------------------------------- tracking
    @contextlib.contextmanager
    def frames_ahead(self, order: Sequence[int]) -> Iterator[None]:
        """Inside, the frames of ``order`` are read up to ``options.prefetch_frames`` ahead on a
        background thread (a :class:`FramePrefetcher`), which stops when the block ends, early or by
        an error. With ``prefetch_frames`` 0 frames are read on demand."""
        depth = self.options.prefetch_frames
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
            raise InvalidInputError(f"prefetch_frames: expected a non-negative integer, got {depth!r}")
        if depth == 0 or not order:
            yield
            return
        with FramePrefetcher(self.engine.frame_source, order, depth) as ahead, self.engine.reading_from(ahead):
            yield

    def track_frame(self, frame: int, reverse: bool = False, obj_ids: Sequence[int] | None = None) -> FrameResult:
        """Track objects into ``frame`` (forward: from the frames before it; reverse: after it).

        ``obj_ids``: the objects to track (default: all); the others keep what they hold. Objects
        with a conditioning output on the frame keep it. Call :meth:`commit` first.
        """
        tracks = self.tracks_of(obj_ids)
        reach = self._clear_reach() if self.options.clear_non_cond_mem_around_input else None
        to_run = []
        for track in tracks:
            track.release_cond(frame)  # a method's own conditioning frame is made again by this step
            if track.is_cond(frame):
                if reach is not None:
                    track.clear_around(frame, reach)
            else:
                to_run.append(track)
        with torch.inference_mode():
            steps = self.engine.track(to_run, frame, reverse)
        for track, step in zip(to_run, steps):
            if step.as_cond:
                track.record_cond(frame, step.output)
            else:
                track.record(frame, step.output)
        for track in tracks:
            track.mark_reached(frame, reverse)
        result = self._result(frame, [t.final_output(frame) for t in self.state.tracks()])
        result.propagated = tuple(t.obj_id for t in tracks)
        return result

    @property
    def method(self) -> TrackingMethod:
        """The tracking method the session runs (see :mod:`samstream.video.methods`)."""
        return self.engine.method

    def settle(self, frames: Sequence[int], reverse: bool, obj_ids: Sequence[int] | None = None) -> None:
        """After a propagation run over ``frames`` (in order): let the method revise the outputs it
        chooses only at the end of a run (SAM2Long's final pathway)."""
        for track in self.tracks_of(obj_ids):
            for frame, out in self.engine.method.settle(track, list(frames), reverse).items():
                track.record(frame, out)

    def forget_unreachable(self, frame: int, max_cond_frames: int) -> None:
        """The bounded policy of a stream: keep only what tracking ``frame`` and later frames can read.

        Per object: the memory window's outputs, the pointers within reach, and at most
        ``max_cond_frames`` conditioning frames (the first, then the most recent).
        """
        ctx = self.engine.context()
        for track in self.state.tracks():
            track.bound_cond(max_cond_frames)
            memory_frames, pointer_frames = self.engine.method.attendable(track, frame, ctx)
            track.prune(memory_frames, pointer_frames)

    # --------------------------------------------------------------- results
    def result_on(self, frame: int, prefer_cond: bool | None = None) -> FrameResult:
        """Every object's current result on a frame (from prompts or tracking)."""
        return self._result(frame, [t.output_on(frame, prefer_cond) for t in self.state.tracks()])

    def _result(self, frame: int, outs: list[FrameOutput | None]) -> FrameResult:
        with torch.inference_mode():
            logits = self.engine.video_logits([o.low_res_logits if o is not None else None for o in outs])
        scores = torch.tensor([float(o.object_score) if o is not None else float("nan") for o in outs])
        return FrameResult(frame, self.obj_ids, logits[:, 0].float().cpu(), scores, method=self.engine.method.name)

    def _prefers_cond(self, frame: int) -> bool:
        return any(frame in t.pending_frames(cond=True) for t in self.state.tracks())

    # --------------------------------------------------------------- editing
    def clear_frame(self, frame: int, obj_id: int) -> FrameResult:
        """Remove an object's prompts on a frame; returns the frame's updated result."""
        frame = self.check_frame(frame)
        self.track(obj_id).clear_frame(frame)
        return self.result_on(frame, self._prefers_cond(frame))

    def remove_object(self, obj_id: int) -> list[FrameResult]:
        """Forget an object; returns the updated results on the frames it had prompts on."""
        frames = self.state.remove(check_obj_id(obj_id))
        if not len(self.state):
            return []
        return [self.result_on(frame, self._prefers_cond(frame)) for frame in frames]

    def reset(self) -> None:
        """Forget every object and prompt (the frames and their cached features stay)."""
        self.state.reset()

    # --------------------------------------------------------- exact states
    def record_changes(self) -> None:
        """From now on remember which (object, frame) states change (see :meth:`take_changes`)."""
        self.state.record_changes()

    def take_changes(self) -> dict[int, set[int]]:
        """obj_id -> frames whose state changed since the last call (with :meth:`record_changes` on)."""
        return self.state.take_changes()

    def frame_state(self, obj_id: int, frame: int) -> FrameState:
        """Exactly what an object holds on a frame (empty for an unknown object)."""
        if check_obj_id(obj_id) not in self.state:
            return FrameState()
        return self.state.track(obj_id).frame_state(frame)

    def restore_object(self, obj_id: int, entries: dict[int, FrameEntry]) -> ObjectTrack:
        """An object rebuilt from entries kept elsewhere (a store), its tracked outputs being those
        ``outputs(obj_id)`` holds; replaces any object of that id. Later prompts are numbered after
        every restored one."""
        obj_id = check_obj_id(obj_id)
        if obj_id in self.state:
            self.state.remove(obj_id)
        seqs = [max(e.cond_seq, e.pending_seq) for e in entries.values()]
        track = ObjectTrack(obj_id, self.state.new_outputs(obj_id), entries, max(seqs, default=0) + 1)
        self.state.add_track(track)
        return track

    def set_frame_state(self, obj_id: int, frame: int, state: FrameState) -> None:
        """Put back what :meth:`frame_state` gave (undo, redo, or a state kept elsewhere).

        An object that holds nothing any more is forgotten; an unknown one is created."""
        obj_id = check_obj_id(obj_id)
        if obj_id not in self.state and state.is_empty():
            return
        track = self.state.track(obj_id, create=True)
        track.set_frame_state(frame, state)
        if track.is_empty():
            self.state.remove(obj_id)

    @property
    def counts(self) -> EngineCounts:
        """Model work done so far (images encoded, object-frames tracked, prompts, memories)."""
        return self.engine.counts

    def nbytes(self) -> int:
        """Bytes of every tensor held for the objects (image features and frames excluded)."""
        return sum(t.nbytes() for t in self.state.tracks())

    def num_outputs(self) -> int:
        """Number of per-frame outputs held, over all objects."""
        return sum(t.num_outputs() for t in self.state.tracks())

    def close(self) -> None:
        """Drop cached image features."""
        self.engine.clear_cache()
