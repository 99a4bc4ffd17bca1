"""Online tracking: one frame in, every object's mask out, with memory that stays bounded.

>>> tracker = StreamTracker(model)
>>> for rgb in read_frames(0):                      # a camera, a file, a URL, any iterator
...     result = tracker.step(rgb)                   # tracks the objects known so far
...     if want_new_object:
...         result = tracker.add_points(obj_id=3, points=[[x, y]], labels=[1])   # on this frame

The tracker runs the same model steps as the offline :class:`~samstream.video.predictor.VideoPredictor`
(forward tracking from the frames the objects were prompted on gives the same masks), but keeps only
what the model can still attend to:

- per object, the memories of the last ``num_maskmem - 1`` tracked frames (with the model's memory
  stride), and the object pointers of the last ``max_obj_ptrs_in_encoder - 1`` frames (for those
  older than the memory window only the pointer is kept, not the mask or the memory);
- per object, its conditioning (prompted) frames, at most ``max_cond_frames`` of them. **Policy**
  when an object is prompted on more frames than that: its first prompted frame is kept (it holds
  the user's original definition of the object) together with the most recent ones; the oldest
  corrections in between are forgotten. A correction that stays a tracked (non-conditioning) frame,
  the default, never adds to this count.

The stream has no known length, so the pointers' temporal encoding is normalised by
``max_obj_ptrs_in_encoder`` exactly as for an offline video of at least that many frames.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch

from samstream.errors import InvalidInputError, PromptError
from samstream.model.sam2 import SAM2Model
from samstream.video.live import _to_rgb
from samstream.video.memory_bank import _recent_frame
from samstream.video.options import VideoOptions
from samstream.video.predictor import FrameResult, VideoSession
from samstream.video.state import FrameOutput, ObjectTrack

UNBOUNDED = 2**62  # the "length" of a stream: larger than any frame index it will reach


class _LiveFrames:
    """The one current frame of a stream, in the shape a :class:`VideoSession` reads frames."""

    def __init__(self, model: SAM2Model, first: np.ndarray, device: torch.device) -> None:
        from samstream.video.frames import normalisation_table

        cfg = model.cfg
        self.image_size = cfg.image_size
        self.table = normalisation_table(cfg.pixel_mean, cfg.pixel_std).to(device)
        self.height, self.width = first.shape[:2]
        self.index = -1
        self._tensor: torch.Tensor | None = None

    def __len__(self) -> int:
        return UNBOUNDED

    def advance(self, rgb: np.ndarray) -> int:
        from samstream.video.frames import preprocess_frame

        if rgb.shape[:2] != (self.height, self.width):
            raise InvalidInputError(
                f"frame: size {rgb.shape[1]}x{rgb.shape[0]} differs from the stream's "
                f"{self.width}x{self.height}; resize frames to one size (read_frames(max_size=...) does)"
            )
        self._tensor = preprocess_frame(rgb, self.image_size, self.table)
        self.index += 1
        return self.index

    def tensor(self, index: int) -> torch.Tensor:
        if index != self.index or self._tensor is None:
            raise InvalidInputError(f"frame: {index} is not the stream's current frame {self.index}")
        return self._tensor


class StreamTracker:
    """Tracks objects through a stream of frames with bounded memory. Options: :class:`VideoOptions`."""

    def __init__(self, model: SAM2Model, max_cond_frames: int = 8, **options: Any) -> None:
        if isinstance(max_cond_frames, bool) or not isinstance(max_cond_frames, int) or max_cond_frames < 1:
            raise InvalidInputError(f"max_cond_frames: expected a positive integer, got {max_cond_frames!r}")
        try:
            self.options = VideoOptions(**options)
        except TypeError as exc:
            raise InvalidInputError(f"StreamTracker: {exc}") from exc
        self.model = model
        self.max_cond_frames = max_cond_frames
        self._frames: _LiveFrames | None = None
        self._session: VideoSession | None = None

    # ------------------------------------------------------------------ state
    @property
    def frame_idx(self) -> int:
        """Index of the current frame (-1 before the first :meth:`step`)."""
        return -1 if self._frames is None else self._frames.index

    @property
    def obj_ids(self) -> list[int]:
        return [] if self._session is None else self._session.obj_ids

    @property
    def video_size(self) -> tuple[int, int] | None:
        """(height, width) of the stream's frames, once the first frame has arrived."""
        return None if self._frames is None else (self._frames.height, self._frames.width)

    def _current(self, what: str) -> VideoSession:
        if self._session is None:
            raise PromptError(f"{what}: no frame yet; call step(frame) first, then prompt on that frame")
        return self._session

    # ------------------------------------------------------------------ steps
    def step(self, frame: Any) -> FrameResult:
        """Track every object into the next frame ((H, W, 3) uint8 RGB array or PIL image)."""
        rgb = _to_rgb(frame, "frame")
        if self._session is None:
            storage = torch.device("cpu") if self.options.offload_video_to_cpu else self.model.device
            self._frames = _LiveFrames(self.model, rgb, storage)
            self._frames.advance(rgb)
            self._session = VideoSession(self.model, self.options, self._frames)
            return self._session.result_on(0)
        session, frames = self._session, self._frames
        assert frames is not None
        if any(t.pending_cond or t.pending_non_cond for t in session.state.objects.values()):
            session._commit_prompts()
        index = frames.advance(rgb)
        self._prune(index)
        if not session.state.objects:
            return session.result_on(index)
        return session._propagate_frame(index, reverse=False)

    def add_points(self, obj_id: int, points: Any, labels: Any, clear_old: bool = True) -> FrameResult:
        """Clicks on the current frame for a new or known object; returns the frame's updated result."""
        return self._current("add_points").add_points(self.frame_idx, obj_id, points, labels, clear_old)

    def add_box(self, obj_id: int, box: Any, points: Any = None, labels: Any = None) -> FrameResult:
        """A box (x0, y0, x1, y1) on the current frame, optionally with clicks."""
        return self._current("add_box").add_box(self.frame_idx, obj_id, box, points, labels)

    def add_mask(self, obj_id: int, mask: Any) -> FrameResult:
        """A binary (H, W) mask of an object on the current frame."""
        return self._current("add_mask").add_mask(self.frame_idx, obj_id, mask)

    def remove_object(self, obj_id: int) -> None:
        """Stop tracking an object and forget everything about it."""
        self._current("remove_object").remove_object(obj_id)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

    def __enter__(self) -> StreamTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- memory
    def _prune(self, frame: int) -> None:
        """Forget what no future frame can attend to (``frame`` is about to be tracked)."""
        mem = self.model.cfg.memory
        stride = mem.memory_temporal_stride_for_eval
        memory_frames = {_recent_frame(frame, t, stride, False) for t in range(1, mem.num_maskmem)}
        pointer_frames = set(range(frame - mem.max_obj_ptrs_in_encoder + 1, frame))
        assert self._session is not None
        for track in self._session.state.objects.values():
            self._bound_cond(track)
            for t in list(track.non_cond):
                if t in memory_frames:
                    continue
                if t in pointer_frames:
                    out = track.non_cond[t]
                    if out.memory is not None or out.low_res_logits is not None:
                        track.non_cond[t] = _pointer_only(out)
                else:
                    del track.non_cond[t]
            keep = memory_frames | pointer_frames | set(track.cond)
            for store in (track.tracked, track.points, track.masks):
                for t in [t for t in store if t not in keep]:
                    del store[t]

    def _bound_cond(self, track: ObjectTrack) -> None:
        if len(track.cond) <= self.max_cond_frames:
            return
        frames = sorted(track.cond)
        for t in frames[1 : len(frames) - self.max_cond_frames + 1]:
            del track.cond[t]
            track.points.pop(t, None)
            track.masks.pop(t, None)

    def nbytes(self) -> int:
        """Bytes of every tensor the tracker holds for its objects (features and frame excluded)."""
        if self._session is None:
            return 0
        return sum(t.nbytes() for t in self._session.state.objects.values())

    def num_outputs(self) -> int:
        """Number of per-frame outputs held, over all objects."""
        if self._session is None:
            return 0
        return sum(len(t.cond) + len(t.non_cond) + len(t.pending_cond) + len(t.pending_non_cond)
                   for t in self._session.state.objects.values())


def _pointer_only(out: FrameOutput) -> FrameOutput:
    """A tracked frame past the memory window: only its object pointer is still attended to."""
    return replace(out, low_res_logits=None, memory=None, memory_pos=None)
