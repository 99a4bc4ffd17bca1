"""Offline video segmentation: prompt objects on any frame, propagate through the whole video.

>>> vp = VideoPredictor(model)
>>> with vp.open("clip.mp4") as session:
...     session.add_points(frame=0, obj_id=1, points=[[210, 350]], labels=[1])
...     session.add_box(frame=0, obj_id=2, box=[300, 0, 500, 400])
...     for r in session.propagate():
...         r.frame_idx, r.obj_ids, r.masks      # masks: (N, H, W) bool at video resolution
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from samstream.errors import InvalidInputError
from samstream.model.sam2 import SAM2Model
from samstream.video.frames.source import open_frames
from samstream.video.options import VideoOptions
from samstream.video.saved import check_match, load_objects, read_session, save_session, saved_options
from samstream.video.spill import SpilledOutputs, SpillFolder
from samstream.video.frame_outputs import OutputStore
from samstream.video.state import SessionState
from samstream.video.tracker import FrameResult, Tracker

__all__ = ["FrameResult", "VideoPredictor", "VideoSession"]


class VideoPredictor:
    """Tracks prompted objects through videos with SAM 2's memory. Options: :class:`VideoOptions`."""

    def __init__(self, model: SAM2Model, **options: Any) -> None:
        self.model = model
        try:
            self.options = VideoOptions(**options)
        except TypeError as exc:
            raise InvalidInputError(f"VideoPredictor: {exc}") from exc

    def open(self, source: Any, *, outputs: Callable[[int], OutputStore] | None = None, warm_up: bool = True,
             **options: Any) -> "VideoSession":
        """Open a video: a frame folder, a video file, a (T, H, W, 3) uint8 array or a list of images.

        ``outputs(obj_id)``: where each object's tracked outputs are kept (an
        :class:`~samstream.video.frame_outputs.OutputStore`; default: memory, or memory and disk with
        ``max_outputs_in_memory``), for a front end that keeps them itself (the studio's store).
        ``warm_up``: encode frame 0 now, where users usually click first (False: only when needed)."""
        try:
            opts = replace(self.options, **options) if options else self.options
        except TypeError as exc:
            raise InvalidInputError(f"VideoPredictor.open: {exc}") from exc
        cfg = self.model.cfg
        device = torch.device("cpu") if opts.offload_video_to_cpu else self.model.device
        frames = open_frames(source, cfg.image_size, cfg.pixel_mean, cfg.pixel_std,
                             cache_size=opts.frame_cache_size, device=device)
        session = VideoSession(self.model, opts, frames, outputs)
        if warm_up:
            session.encode(0)
        return session

    def restore(self, path: str | Path, source: Any, **options: Any) -> "VideoSession":
        """Reopen a session saved with :meth:`VideoSession.save` on the same video ``source``.

        The saved result-changing options are used again (``options`` may override them). A file
        saved with another model or on another video, or a damaged one, is an :class:`InvalidInputError`.
        """
        data = read_session(path)
        base = saved_options(data, self.options, path)
        session = VideoPredictor(self.model).open(source, **{**base.as_kwargs(), **options})
        try:
            check_match(data, session.tracker, session.frames.tensor(0), path)
            load_objects(data, session.tracker, path)
        except BaseException:
            session.close()
            raise
        return session


class VideoSession:
    """One video and the objects prompted in it. Use as a context manager or call :meth:`close`.

    A thin layer over :class:`~samstream.video.tracker.Tracker`: random access over a finite
    video (prompt any frame, propagate from any frame in either direction), with tracked outputs
    optionally spilled to disk (``max_outputs_in_memory``).
    """

    def __init__(self, model: SAM2Model, options: VideoOptions, frames: Any,
                 outputs: Callable[[int], OutputStore] | None = None) -> None:
        self.model = model
        self.frames = frames
        self._spill: SpillFolder | None = None
        if outputs is None and options.max_outputs_in_memory is not None:
            cap = options.max_outputs_in_memory
            if isinstance(cap, bool) or not isinstance(cap, (int, np.integer)) or cap < 1:
                raise InvalidInputError(f"max_outputs_in_memory: expected a positive integer or None, got {cap!r}")
            spill = self._spill = SpillFolder(options.spill_dir)
            outputs = lambda obj_id: SpilledOutputs(spill, int(cap))  # noqa: E731
        self.tracker = Tracker(model, options, frames.tensor, (frames.height, frames.width), len(frames), outputs)

    def __enter__(self) -> "VideoSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.tracker.close()
        if self._spill is not None:
            self._spill.remove()
        close = getattr(self.frames, "close", None)
        if close is not None:
            close()

    @property
    def options(self) -> VideoOptions:
        return self.tracker.options

    def update_options(self, **changes: Any) -> None:
        """Change options for the following calls (see :meth:`Tracker.update_options`)."""
        self.tracker.update_options(**changes)

    @property
    def state(self) -> SessionState:
        """The typed per-object state (read it; change it through the session's verbs)."""
        return self.tracker.state

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    @property
    def video_size(self) -> tuple[int, int]:
        """(height, width) of the video."""
        return self.tracker.video_hw

    @property
    def obj_ids(self) -> list[int]:
        return self.tracker.obj_ids

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the session's prompts, outputs and memories to ``path`` (see :mod:`samstream.video.saved`).

        :meth:`VideoPredictor.restore` reads it back, also in another process.
        """
        return save_session(path, self.tracker, self.frames.tensor(0), overwrite)

    # --------------------------------------------------------------- prompts
    def add_points(self, frame: int, obj_id: int, points: Any, labels: Any, clear_old: bool = True,
                   normalize_coords: bool = True) -> FrameResult:
        """Clicks on a frame: pixel (x, y) ``points`` (N, 2) with ``labels`` (N,) 1 = object, 0 = background.

        ``clear_old=False`` adds the clicks to the frame's earlier ones (a correction).
        """
        return self.tracker.add_points(frame, obj_id, points, labels, clear_old, normalize_coords)

    def add_box(self, frame: int, obj_id: int, box: Any, points: Any = None, labels: Any = None,
                normalize_coords: bool = True) -> FrameResult:
        """A box (x0, y0, x1, y1) on a frame, optionally with clicks; replaces the frame's earlier clicks."""
        return self.tracker.add_box(frame, obj_id, box, points, labels, normalize_coords)

    def add_mask(self, frame: int, obj_id: int, mask: Any) -> FrameResult:
        """A binary (H, W) mask of the object on a frame (any size; resized to the model input)."""
        return self.tracker.add_mask(frame, obj_id, mask)

    def result_on(self, frame: int, prefer_cond: bool | None = None) -> FrameResult:
        """Every object's current result on a frame (from prompts or propagation)."""
        return self.tracker.result_on(frame, prefer_cond)

    def clear_frame(self, frame: int, obj_id: int) -> FrameResult:
        """Remove an object's prompts on a frame."""
        return self.tracker.clear_frame(frame, obj_id)

    def remove_object(self, obj_id: int) -> list[FrameResult]:
        """Forget an object; returns the updated results on the frames it had prompts on."""
        return self.tracker.remove_object(obj_id)

    def reset(self) -> None:
        """Forget every object and prompt (the video and its cached features stay)."""
        self.tracker.reset()

    # ----------------------------------------------------------- propagation
    def propagate(self, start: int | None = None, max_frames: int | None = None, reverse: bool = False,
                  obj_ids: Sequence[int] | None = None, stop_at_prompt: bool = False,
                  as_tracked: bool = False) -> Iterator[FrameResult]:
        """Track objects from ``start`` (default: their first prompted frame) forward or in reverse.

        Yields ``max_frames`` frames at most (default: to the end of the video). Reverse tracking
        from frame 0 yields nothing (there is no frame before it to reach).

        ``obj_ids``: the objects to track (default: all); the others keep what they hold, bit for
        bit (each result's ``propagated`` names the objects that step tracked). ``stop_at_prompt``:
        each object stops before its next prompted frame in the tracking direction, and the run ends
        when every object has stopped: after a correction on frame t, ``propagate(t, obj_ids=[obj],
        stop_at_prompt=True)`` re-tracks exactly the frames the correction can change before the
        next prompt takes over.

        A method that chooses its masks once a run has ended (SAM2Long's final pathway) yields the run's
        results after its last frame. ``as_tracked``: yield each frame as soon as it is tracked (that
        method's best pathway so far) and, after the last one, the frames again as the run settled them
        (a front end that shows progress and must not wait for the whole run in one step).
        """
        self.tracker.commit(obj_ids)
        if start is None:
            start = self.tracker.first_cond_frame(obj_ids)
        start = self.tracker.check_frame(start)
        n = self.num_frames
        if max_frames is None:
            max_frames = n
        if isinstance(max_frames, bool) or not isinstance(max_frames, (int, np.integer)) or max_frames < 0:
            raise InvalidInputError(f"max_frames: expected a non-negative integer, got {max_frames!r}")
        if reverse:
            order = range(start, max(start - int(max_frames), -1), -1) if start > 0 else range(0)
        else:
            order = range(start, min(start + int(max_frames), n))
        ids = [t.obj_id for t in self.tracker.tracks_of(obj_ids)]
        stops: dict[int, int | None] = {i: None for i in ids}
        if stop_at_prompt:
            stops = {i: self.tracker.next_prompted_frame(i, start, reverse) for i in ids}
            if all(s is not None for s in stops.values()):  # read ahead no further than the last stop
                last = min(stops.values()) if reverse else max(stops.values())  # type: ignore[type-var]
                order = [f for f in order if (f > last if reverse else f < last)]  # type: ignore[assignment]
        # a method that chooses its masks once a run has ended (SAM2Long's final pathway) gives the
        # run's results after its last frame, read from what it settled on; the others as they come
        deferred: list[tuple[int, tuple[int, ...]]] | None = [] if self.tracker.method.revises_past else None
        with self.tracker.frames_ahead(order):
            for frame in order:
                active = [i for i, stop in stops.items() if stop is None or (frame > stop if reverse else frame < stop)]
                if not active:
                    break
                result = self.tracker.track_frame(frame, reverse, active)
                if deferred is not None:
                    deferred.append((frame, result.propagated))
                if deferred is None or as_tracked:
                    yield result
        if deferred:
            self.tracker.settle([f for f, _ in deferred], reverse, ids)
            for frame, propagated in deferred:
                settled = self.tracker.result_on(frame)
                settled.propagated = propagated
                yield settled

    # ---------------------------------------------------------------- model work
    def encode(self, frame: int) -> None:
        """Compute a frame's image features now (ahead of a click on it), into the session's cache."""
        self.tracker.engine.features(self.tracker.check_frame(frame))

    def is_encoded(self, frame: int) -> bool:
        """Whether a frame's image features are in the session's cache (a click on it encodes nothing)."""
        return self.tracker.engine.has_features(frame)
