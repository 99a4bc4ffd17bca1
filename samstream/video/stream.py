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

The stream has no known length (its :class:`~samstream.video.tracker.Tracker` has ``num_frames``
None), so the pointers' temporal encoding is normalised by ``max_obj_ptrs_in_encoder`` exactly as
for an offline video of at least that many frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from samstream.errors import InvalidInputError, PromptError
from samstream.model.sam2 import SAM2Model
from samstream.video.frames.preprocess import ModelInput
from samstream.video.frames.frame_stream import frame_to_rgb
from samstream.video.options import VideoOptions
from samstream.video.tracker import FrameResult, Tracker


class _LiveFrames:
    """The one current frame of a stream: ``tensor(index)`` as a :class:`Tracker` reads frames."""

    def __init__(self, model: SAM2Model, first: np.ndarray, device: torch.device) -> None:
        self.model_input = ModelInput.for_model(model.cfg, device)
        self.height, self.width = first.shape[:2]
        self.index = -1
        self._tensor: torch.Tensor | None = None

    def advance(self, rgb: np.ndarray) -> int:
        if rgb.shape[:2] != (self.height, self.width):
            raise InvalidInputError(
                f"frame: size {rgb.shape[1]}x{rgb.shape[0]} differs from the stream's "
                f"{self.width}x{self.height}; resize frames to one size (read_frames(max_size=...) does)"
            )
        self._tensor = self.model_input(rgb)
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
        # a stream keeps the official rule for corrections unless asked otherwise: a correction on the
        # current frame stays a tracked frame, and every kept conditioning frame is attended to
        options = {"add_all_frames_to_correct_as_cond": False, "max_cond_frames_in_attn": None, **options}
        try:
            self.options = VideoOptions(**options)
        except TypeError as exc:
            raise InvalidInputError(f"StreamTracker: {exc}") from exc
        self.model = model
        self.max_cond_frames = max_cond_frames
        self._frames: _LiveFrames | None = None
        self._tracker: Tracker | None = None

    # ------------------------------------------------------------------ state
    @property
    def frame_idx(self) -> int:
        """Index of the current frame (-1 before the first :meth:`step`)."""
        return -1 if self._frames is None else self._frames.index

    @property
    def obj_ids(self) -> list[int]:
        return [] if self._tracker is None else self._tracker.obj_ids

    @property
    def video_size(self) -> tuple[int, int] | None:
        """(height, width) of the stream's frames, once the first frame has arrived."""
        return None if self._frames is None else (self._frames.height, self._frames.width)

    @property
    def tracker(self) -> Tracker | None:
        """The tracker core (None before the first frame)."""
        return self._tracker

    def _current(self, what: str) -> Tracker:
        if self._tracker is None:
            raise PromptError(f"{what}: no frame yet; call step(frame) first, then prompt on that frame")
        return self._tracker

    # ------------------------------------------------------------------ steps
    def step(self, frame: Any) -> FrameResult:
        """Track every object into the next frame ((H, W, 3) uint8 RGB array or PIL image)."""
        rgb = frame_to_rgb(frame, "frame")
        if self._tracker is None:
            storage = torch.device("cpu") if self.options.offload_video_to_cpu else self.model.device
            self._frames = frames = _LiveFrames(self.model, rgb, storage)
            frames.advance(rgb)
            self._tracker = Tracker(self.model, self.options, frames.tensor, (frames.height, frames.width),
                                    num_frames=None)
            self._tracker.engine.features(0)
            return self._tracker.result_on(0)
        tracker, frames = self._tracker, self._frames
        assert frames is not None
        if tracker.has_pending():
            tracker.commit()
        index = frames.advance(rgb)
        tracker.forget_unreachable(index, self.max_cond_frames)
        if not tracker.obj_ids:
            return tracker.result_on(index)
        return tracker.track_frame(index, reverse=False)

    def add_points(self, obj_id: int, points: Any, labels: Any, clear_old: bool = True) -> FrameResult:
        """Clicks on the current frame for a new or known object; returns the frame's updated result."""
        return self._current("add_points").add_points(self.frame_idx, obj_id, points, labels, clear_old)

    def add_box(self, obj_id: int, box: Any, points: Any = None, labels: Any = None) -> FrameResult:
        """A box (x0, y0, x1, y1) on the current frame, optionally with clicks."""
        return self._current("add_box").add_box(self.frame_idx, obj_id, box, points, labels)

    def add_mask(self, obj_id: int, mask: Any) -> FrameResult:
        """A binary (H, W) mask of an object on the current frame."""
        return self._current("add_mask").add_mask(self.frame_idx, obj_id, mask)

    def result(self) -> FrameResult:
        """Every object on the current frame, each from its latest output (a prompt on the frame included)."""
        return self._current("result").result_on(self.frame_idx)

    def remove_object(self, obj_id: int) -> None:
        """Stop tracking an object and forget everything about it."""
        self._current("remove_object").remove_object(obj_id)

    def close(self) -> None:
        if self._tracker is not None:
            self._tracker.close()

    def __enter__(self) -> StreamTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- memory
    def nbytes(self) -> int:
        """Bytes of every tensor the tracker holds for its objects (features and frame excluded)."""
        return 0 if self._tracker is None else self._tracker.nbytes()

    def num_outputs(self) -> int:
        """Number of per-frame outputs held, over all objects."""
        return 0 if self._tracker is None else self._tracker.num_outputs()
