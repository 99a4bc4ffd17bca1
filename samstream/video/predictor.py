"""Offline video segmentation: prompt objects on any frame, propagate through the whole video.

>>> vp = VideoPredictor(model)
>>> with vp.open("clip.mp4") as session:
...     session.add_points(frame=0, obj_id=1, points=[[210, 350]], labels=[1])
...     session.add_box(frame=0, obj_id=2, box=[300, 0, 500, 400])
...     for r in session.propagate():
...         r.frame_idx, r.obj_ids, r.masks      # masks: (N, H, W) bool at video resolution
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from samstream.errors import InvalidInputError, PromptError
from samstream.image.prompts import prepare_prompts
from samstream.model.sam2 import SAM2Model
from samstream.video.engine import Engine
from samstream.video.options import VideoOptions
from samstream.video.spill import SpilledOutputs, SpillFolder
from samstream.video.state import ObjectTrack, PointPrompt, SessionState


@dataclass
class FrameResult:
    """All objects' results on one frame, at video resolution (tensors on the CPU)."""

    frame_idx: int
    obj_ids: list[int]
    logits: Tensor  # (N, H, W) float32 mask logits; -1024 where an object has no output
    object_scores: Tensor  # (N,) object-presence logits (NaN where an object has no output)

    @property
    def masks(self) -> Tensor:
        """(N, H, W) bool masks."""
        return self.logits > 0

    def mask(self, obj_id: int) -> Tensor:
        return self.masks[self.obj_ids.index(obj_id)]


class VideoPredictor:
    """Tracks prompted objects through videos with SAM 2's memory. Options: :class:`VideoOptions`."""

    def __init__(self, model: SAM2Model, **options: Any) -> None:
        self.model = model
        try:
            self.options = VideoOptions(**options)
        except TypeError as exc:
            raise InvalidInputError(f"VideoPredictor: {exc}") from exc

    def open(self, source: Any, **options: Any) -> "VideoSession":
        """Open a video: a frame folder, a video file, a (T, H, W, 3) uint8 array or a list of images."""
        from samstream.video.frames import open_frames

        opts = replace(self.options, **options) if options else self.options
        cfg = self.model.cfg
        device = torch.device("cpu") if opts.offload_video_to_cpu else self.model.device
        frames = open_frames(source, cfg.image_size, cfg.pixel_mean, cfg.pixel_std,
                             cache_size=opts.frame_cache_size, device=device)
        return VideoSession(self.model, opts, frames)


class VideoSession:
    """One video and the objects prompted in it. Use as a context manager or call :meth:`close`."""

    def __init__(self, model: SAM2Model, options: VideoOptions, frames: Any) -> None:
        self.model = model
        self.options = options
        self.frames = frames
        self.state = SessionState(num_frames=len(frames), video_hw=(frames.height, frames.width))
        self.engine = Engine(model, options, frames.tensor, self.state)
        self._spill: SpillFolder | None = None
        if options.max_outputs_in_memory is not None:
            if isinstance(options.max_outputs_in_memory, bool) or options.max_outputs_in_memory < 1:
                raise InvalidInputError(
                    f"max_outputs_in_memory: expected a positive integer or None, got {options.max_outputs_in_memory!r}"
                )
            self._spill = folder = SpillFolder(options.spill_dir)
            capacity = options.max_outputs_in_memory
            self.state.new_outputs = lambda: SpilledOutputs(folder, capacity, lambda: self.engine.memory_pos)
        self.engine.features(0)  # the first frame is where users click first

    def __enter__(self) -> "VideoSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.clear_cache()
        if self._spill is not None:
            self._spill.remove()
        close = getattr(self.frames, "close", None)
        if close is not None:
            close()

    @property
    def num_frames(self) -> int:
        return self.state.num_frames

    @property
    def video_size(self) -> tuple[int, int]:
        """(height, width) of the video."""
        return self.state.video_hw

    @property
    def obj_ids(self) -> list[int]:
        return self.state.obj_ids

    # --------------------------------------------------------------- prompts
    def _check_frame(self, frame: Any) -> int:
        if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)):
            raise InvalidInputError(f"frame: expected an integer frame index, got {frame!r}")
        if not 0 <= int(frame) < self.num_frames:
            raise InvalidInputError(f"frame: {frame} is outside the video (frames 0 to {self.num_frames - 1})")
        return int(frame)

    @staticmethod
    def _check_obj_id(obj_id: Any) -> int:
        if isinstance(obj_id, bool) or not isinstance(obj_id, (int, np.integer)):
            raise InvalidInputError(f"obj_id: expected an integer object id, got {obj_id!r}")
        return int(obj_id)

    def add_points(self, frame: int, obj_id: int, points: Any, labels: Any, clear_old: bool = True,
                   normalize_coords: bool = True) -> FrameResult:
        """Clicks on a frame: pixel (x, y) ``points`` (N, 2) with ``labels`` (N,) 1 = object, 0 = background.

        ``clear_old=False`` adds the clicks to the frame's earlier ones (a correction).
        """
        return self._add_clicks(frame, obj_id, points, labels, None, clear_old, normalize_coords, strict=True)

    def add_box(self, frame: int, obj_id: int, box: Any, points: Any = None, labels: Any = None,
                normalize_coords: bool = True) -> FrameResult:
        """A box (x0, y0, x1, y1) on a frame, optionally with clicks; replaces the frame's earlier clicks."""
        return self._add_clicks(frame, obj_id, points, labels, box, True, normalize_coords, strict=True)

    def _add_clicks(self, frame: int, obj_id: int, points: Any, labels: Any, box: Any, clear_old: bool,
                    normalize_coords: bool, strict: bool) -> FrameResult:
        frame, obj_id = self._check_frame(frame), self._check_obj_id(obj_id)
        if points is None and box is None:
            raise PromptError("points: give points with labels, or a box")
        if box is not None and not clear_old:
            raise PromptError("box: a box must come before any click on a frame; use clear_old=True")
        prompts = prepare_prompts(points, labels, box, None, self.state.video_hw, self.model.image_size,
                                  torch.device("cpu"), normalize_coords, strict=strict)
        if prompts.batched or prompts.batch_size != 1:
            raise PromptError("points: one object at a time; give (N, 2) points and (N,) labels")
        new = PointPrompt(prompts.coords, prompts.labels)  # type: ignore[arg-type]
        track = self.state.track(obj_id, create=True)
        old = track.points.get(frame)
        track.points[frame] = old.extended(new.coords, new.labels) if (old is not None and not clear_old) else new
        track.masks.pop(frame, None)
        return self._run_prompt(track, frame, use_previous=True)

    def add_mask(self, frame: int, obj_id: int, mask: Any) -> FrameResult:
        """A binary (H, W) mask of the object on a frame (any size; resized to the model input)."""
        frame, obj_id = self._check_frame(frame), self._check_obj_id(obj_id)
        arr = mask.detach().cpu().numpy() if isinstance(mask, Tensor) else np.asarray(mask)
        if arr.ndim != 2 or arr.size == 0:
            raise PromptError(f"mask: shape {arr.shape} is not a 2-D (H, W) mask")
        if arr.dtype != bool and not np.isin(arr, (0, 1)).all():
            raise PromptError("mask: values must be boolean or 0/1")
        m = torch.from_numpy(arr.astype(bool)).float()[None, None]  # (1, 1, H, W)
        size = self.model.image_size
        if m.shape[-2:] != (size, size):
            m = F.interpolate(m, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
            m = (m >= 0.5).float()
        track = self.state.track(obj_id, create=True)
        track.masks[frame] = m
        track.points.pop(frame, None)
        return self._run_prompt(track, frame, use_previous=False)

    def _run_prompt(self, track: ObjectTrack, frame: int, use_previous: bool) -> FrameResult:
        is_init = frame not in track.tracked
        reverse = False if is_init else track.tracked[frame]
        is_cond = is_init or self.options.add_all_frames_to_correct_as_cond
        prev = track.output_on(frame, prefer_cond=is_cond) if use_previous else None
        with torch.inference_mode():
            out = self.engine.prompt(track, frame, track.points.get(frame), track.masks.get(frame), is_init,
                                     reverse, prev.low_res_logits if prev is not None else None)
        (track.pending_cond if is_cond else track.pending_non_cond)[frame] = out
        return self.result_on(frame, is_cond)

    def result_on(self, frame: int, prefer_cond: bool | None = None) -> FrameResult:
        """Every object's current result on a frame (from prompts or propagation)."""
        outs = [t.output_on(frame, prefer_cond) for t in self.state.objects.values()]
        return self._result(frame, outs)

    def _result(self, frame: int, outs: list) -> FrameResult:
        with torch.inference_mode():
            logits = self.engine.video_logits([o.low_res_logits if o is not None else None for o in outs])
        scores = torch.tensor([float(o.object_score) if o is not None else float("nan") for o in outs])
        return FrameResult(frame, self.obj_ids, logits[:, 0].float().cpu(), scores)

    def clear_frame(self, frame: int, obj_id: int) -> FrameResult:
        """Remove an object's prompts on a frame."""
        frame = self._check_frame(frame)
        self.state.track(self._check_obj_id(obj_id)).clear_frame(frame)
        is_cond = any(frame in t.pending_cond for t in self.state.objects.values())
        return self.result_on(frame, is_cond)

    def remove_object(self, obj_id: int) -> list[FrameResult]:
        """Forget an object; returns the updated results on the frames it had prompts on."""
        track = self.state.remove(self._check_obj_id(obj_id))
        frames = sorted(track.prompted_frames())
        if not self.state.objects:
            return []
        results = []
        for frame in frames:
            is_cond = any(frame in t.pending_cond for t in self.state.objects.values())
            results.append(self.result_on(frame, is_cond))
        return results

    def reset(self) -> None:
        """Forget every object and prompt (the video and its cached features stay)."""
        self.state.reset()

    # ----------------------------------------------------------- propagation
    def _commit_prompts(self) -> None:
        if not self.state.objects:
            raise PromptError("propagate: no object has prompts; add points, a box or a mask first")
        with torch.inference_mode():
            for track in self.state.objects.values():
                for pending, store in ((track.pending_non_cond, track.non_cond), (track.pending_cond, track.cond)):
                    for frame, out in pending.items():
                        self.engine.commit(frame, out)
                        store[frame] = out
                        if self.options.clear_non_cond_mem_around_input:
                            self._clear_around(track, frame)
                    pending.clear()
                if not track.cond:
                    raise PromptError(f"propagate: object {track.obj_id} has no prompts; add some or remove it")
                for frame in track.cond:
                    track.non_cond.pop(frame, None)

    def _clear_around(self, track: ObjectTrack, frame: int) -> None:
        mem = self.model.cfg.memory
        reach = mem.memory_temporal_stride_for_eval * mem.num_maskmem
        for t in range(frame - reach, frame + reach + 1):
            track.non_cond.pop(t, None)

    def propagate(self, start: int | None = None, max_frames: int | None = None,
                  reverse: bool = False) -> Iterator[FrameResult]:
        """Track every object from ``start`` (default: the first prompted frame) forward or in reverse."""
        self._commit_prompts()
        n = self.num_frames
        if start is None:
            start = min(t for track in self.state.objects.values() for t in track.cond)
        start = self._check_frame(start)
        if max_frames is None:
            max_frames = n
        if isinstance(max_frames, bool) or not isinstance(max_frames, (int, np.integer)) or max_frames < 0:
            raise InvalidInputError(f"max_frames: expected a non-negative integer, got {max_frames!r}")
        if reverse:
            end = max(start - max_frames, 0)
            order = range(start, end - 1, -1) if start > 0 else range(0)
        else:
            end = min(start + max_frames, n - 1)
            order = range(start, end + 1)
        for frame in order:
            yield self._propagate_frame(frame, reverse)

    def _propagate_frame(self, frame: int, reverse: bool) -> FrameResult:
        tracks = list(self.state.objects.values())
        to_run = []
        for track in tracks:
            if frame in track.cond:
                if self.options.clear_non_cond_mem_around_input:
                    self._clear_around(track, frame)
            else:
                to_run.append(track)
        with torch.inference_mode():
            outs = self.engine.track(to_run, frame, reverse)
        for track, out in zip(to_run, outs):
            track.non_cond[frame] = out
        for track in tracks:
            track.tracked[frame] = reverse
        return self._result(frame, [t.cond.get(frame) or t.non_cond[frame] for t in tracks])
