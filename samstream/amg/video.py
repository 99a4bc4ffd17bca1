"""Automatic masklets: segment and track everything in a video, with no prompts.

>>> gen = VideoMaskGenerator(model, keyframe_interval=8, points_per_side=16)
>>> for frame in gen.generate("clip.mp4"):          # any source read_frames takes, or a (T, H, W, 3) array
...     frame.frame_idx, frame.obj_ids, frame.labels  # labels: (H, W) int32 masklet ids, 0 = none

The algorithm:

1. **Key frames.** Frame 0 and every ``keyframe_interval``-th frame are key frames, and, with
   ``scene_cut_threshold``, also a frame whose 32x32 grey thumbnail differs from the previous one's by
   more than that on average (0-255 scale). On a key frame :class:`~samstream.amg.MaskGenerator` runs
   with the options given here (points per side, crops, thresholds, minimum region area, ...).
2. **New masklets.** On the first key frame every mask the generator keeps starts a masklet. On a
   later key frame a generated mask starts a new masklet, on that frame, unless a tracked masklet
   already explains it: its IoU with some tracked mask is at least ``match_iou_thresh``, or at least
   ``coverage_thresh`` of its area lies inside the tracked masks (a part of a tracked object, or a
   region spanning tracked objects). Masks are compared on a grid of at most 256 pixels a side.
   **Re-anchoring:** a tracked masklet that a generated mask matches on identity (IoU at least
   ``match_iou_thresh``) but not on shape (IoU below ``reanchor_iou``) has drifted; the generated mask
   becomes its mask prompt on the key frame, so tracking restarts from the generator's fresh view of the
   object (one generated mask per masklet, the best-overlapping one; ``reanchor_iou=None`` turns it off).
   **Revival:** a generated mask left unexplained that overlaps the last visible mask of a masklet that is
   lost (object score below zero, not yet closed) with IoU at least ``revive_iou`` goes to that masklet,
   so an object the tracker lost for a few frames keeps its identity (``revive_iou=None``: a new masklet).
   Both re-prompts are conditioning frames of the masklet (bounded by ``max_cond_frames``).
3. **Tracking** runs every masklet forward through the video with the streaming tracker
   (:class:`~samstream.video.stream.StreamTracker`): the masklets of a frame run as one batch of the
   multi-object core, and the tracker keeps only what the model can still attend to (its policy for
   conditioning frames, ``max_cond_frames``, included), so memory does not grow with the video.
   A new masklet enters the tracker as a mask prompt on its key frame.
4. **Closing.** A masklet whose object score stays below zero on more than ``max_absent_frames``
   consecutive frames is closed (forgotten by the tracker; an object coming back later is found
   again on a key frame, as a new masklet).
5. **Merging.** Two masklets whose own masks (before pixels are shared out) overlap with IoU at
   least ``merge_iou_thresh`` on ``merge_window`` consecutive frames have converged onto one object:
   the younger is removed and, on every frame not yet final, its pixels go to the older. A younger
   masklet whose whole life is still pending thus never appears in the output.
6. **Backward tracking** (``track_backward``): the masklets found on a key frame are also tracked in
   reverse over the ``backward_frames`` frames before it (default ``keyframe_interval``), with the
   offline predictor on those frames, so an object gets its frames before it was discovered.
7. **Pixels** go to the masklet with the highest positive logit: the label maps (and every mask
   derived from them) never give a pixel to two masklets.
8. **Results are final after a delay** of ``max(merge_window, backward reach)`` frames (merges and
   backward tracking can still change them before); :meth:`VideoMaskGenerator.generate` yields each
   frame once it is final. The generator holds the delay's frames, the tracker's bounded state and
   one small record per masklet, so a long video runs in the memory of a short one.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch
from torch import Tensor

from samstream.amg.generator import MaskGenerator
from samstream.amg.masklets import (Masklet, MaskletOptions, MergeDetector, PixelOwners, explained, mask_grid,
                                    matches, stability, thumbnail)
from samstream.errors import InvalidInputError
from samstream.model.sam2 import SAM2Model
from samstream.video.frames.frame_stream import read_frames
from samstream.video.predictor import FrameResult, VideoPredictor
from samstream.video.stream import StreamTracker

MASKLET_FIELDS = set(MaskletOptions.__dataclass_fields__)


@dataclass
class MaskletFrame:
    """Every masklet on one frame, final (later frames never change it)."""

    frame_idx: int
    image: np.ndarray  # (H, W, 3) uint8 RGB frame
    labels: np.ndarray  # (H, W) int32 masklet ids, 0 = no masklet
    obj_ids: list[int]  # masklets tracked on this frame (visible or not), ascending
    object_scores: dict[int, float]  # masklet id -> object-presence logit
    stability: dict[int, float]  # masklet id -> IoU of its masks at logits +1 and -1
    is_keyframe: bool = False

    @property
    def masks(self) -> np.ndarray:
        """(N, H, W) bool masks of ``obj_ids`` (disjoint)."""
        ids = np.asarray(self.obj_ids, dtype=np.int32)
        return self.labels[None] == ids[:, None, None]


class VideoMaskGenerator:
    """Masklets of everything in a video. See the module docstring for the algorithm.

    Args:
        model: the SAM 2 model.
        mask_generator: the per-key-frame generator (default: ``MaskGenerator(model, **generator_options)``);
            anything with ``generate(image) -> list of records`` holding a ``segmentation`` (H, W) bool mask
            and a ``predicted_iou``.
        video_options: options of the streaming tracker and the backward predictor (:class:`VideoOptions`).
        **options: :class:`~samstream.amg.masklets.MaskletOptions` fields, then the mask generator's
            options (``points_per_side``, ``pred_iou_thresh``, ``crop_n_layers``, ``min_mask_region_area`` ...).
    """

    def __init__(self, model: SAM2Model, mask_generator: Any = None, video_options: dict[str, Any] | None = None,
                 **options: Any) -> None:
        masklet = {k: v for k, v in options.items() if k in MASKLET_FIELDS}
        generator = {k: v for k, v in options.items() if k not in MASKLET_FIELDS}
        self.options = MaskletOptions(**masklet)
        if mask_generator is not None and generator:
            raise InvalidInputError(f"{', '.join(sorted(generator))}: give mask generator options or a "
                                    "mask_generator, not both")
        if generator.get("output_mode", "binary_mask") != "binary_mask":
            raise InvalidInputError(f"output_mode: the video generator needs 'binary_mask', got {generator['output_mode']!r}")
        self.model = model
        self.mask_generator = mask_generator if mask_generator is not None else MaskGenerator(model, **generator)
        self.video_options = dict(video_options or {})
        self.masklets: dict[int, Masklet] = {}  # every masklet of the last generate(), by id
        self.tracker: StreamTracker | None = None  # the last generate()'s tracker (for inspection)
        self._run: _Run | None = None

    # ----------------------------------------------------------------- public
    def nbytes(self) -> int:
        """Bytes held by the current (or last) :meth:`generate`: the tracker's tensors and the frames not yet
        final (image, pixel owners and their logits)."""
        if self._run is None:
            return 0
        pending = sum(p.image.nbytes + p.owners.owner.nbytes + p.owners.best.nbytes for p in self._run.pending)
        return self._run.tracker.nbytes() + pending

    def generate(self, source: Any) -> Iterator[MaskletFrame]:
        """Yield every frame of ``source`` with its masklets, in order, each once it is final."""
        run = self._run = _Run(self)
        self.masklets = run.masklets
        self.tracker = run.tracker
        try:
            frames = read_frames(source)
            with frames:
                for rgb in frames:
                    yield from run.step(rgb)
            yield from run.flush()
        finally:
            run.tracker.close()


@dataclass
class _Pending:
    frame_idx: int
    image: np.ndarray
    owners: PixelOwners
    ids: list[int]
    scores: dict[int, float]
    stability: dict[int, float]
    is_keyframe: bool


class _Run:
    """The state of one :meth:`VideoMaskGenerator.generate` call."""

    def __init__(self, gen: VideoMaskGenerator) -> None:
        self.gen = gen
        self.opts: MaskletOptions = gen.options
        # a re-anchored or revived masklet's key-frame mask is a conditioning frame (within the bound of
        # max_cond_frames), not a memory that leaves the window after a few frames
        video = {"add_all_frames_to_correct_as_cond": True, **gen.video_options}
        self.tracker = StreamTracker(gen.model, max_cond_frames=self.opts.max_cond_frames, **video)
        self.masklets: dict[int, Masklet] = {}
        self.live: list[int] = []  # masklets the tracker follows
        self.last_seen: dict[int, Tensor] = {}  # live masklet -> (P,) bool grid of its last visible mask
        self.merges = MergeDetector(self.opts.merge_iou_thresh, self.opts.merge_window)
        self.pending: deque[_Pending] = deque()
        self.next_id = 1
        self.last_key = -1
        self.prev_thumb: np.ndarray | None = None

    def step(self, rgb: np.ndarray) -> Iterator[MaskletFrame]:
        with torch.inference_mode():
            result = self.tracker.step(rgb)
            t = result.frame_idx
            key = self._is_keyframe(t, rgb)
            if key:
                result = self._discover(t, rgb, result)
            self._record(t, rgb, result, key)
        while len(self.pending) > self.opts.delay:
            yield self._final(self.pending.popleft())

    def flush(self) -> Iterator[MaskletFrame]:
        while self.pending:
            yield self._final(self.pending.popleft())

    # ------------------------------------------------------------ key frames
    def _is_keyframe(self, t: int, rgb: np.ndarray) -> bool:
        key = t - self.last_key >= self.opts.keyframe_interval or self.last_key < 0
        if self.opts.scene_cut_threshold is not None:
            thumb = thumbnail(rgb)
            if self.prev_thumb is not None and float(np.abs(thumb - self.prev_thumb).mean()) > self.opts.scene_cut_threshold:
                key = True
            self.prev_thumb = thumb
        if key:
            self.last_key = t
        return key

    def _discover(self, t: int, rgb: np.ndarray, result: FrameResult) -> FrameResult:
        """Run the mask generator on key frame ``t``; start a masklet for each unexplained mask."""
        records = self.gen.mask_generator.generate(rgb)
        if not records:
            return result
        masks = np.stack([np.asarray(r["segmentation"], dtype=bool) for r in records])  # (K, H, W)
        if masks.shape[1:] != rgb.shape[:2]:
            raise InvalidInputError(f"mask_generator: masks of shape {masks.shape[1:]} for a frame of {rgb.shape[:2]}")
        prompted = False
        if self.masklets:
            generated, tracked = mask_grid(masks), mask_grid(result.masks)
            known = explained(generated, tracked, self.opts.match_iou_thresh, self.opts.coverage_thresh).numpy()
            if self.opts.reanchor_iou is not None:
                for k, n in matches(generated, tracked, self.opts.match_iou_thresh, self.opts.reanchor_iou):
                    self.tracker.add_mask(result.obj_ids[n], masks[k])
                    prompted = True
        else:  # the first key frame: every mask the generator kept
            known = masks.reshape(len(masks), -1).sum(1) == 0
        if self.opts.revive_iou is not None and not known.all():
            prompted = self._revive(masks, known) or prompted
        new: list[int] = []
        for rec, mask, skip in zip(records, masks, known):
            if skip:
                continue
            obj_id = self.next_id
            self.next_id += 1
            self.tracker.add_mask(obj_id, mask)
            prompted = True
            self.masklets[obj_id] = Masklet(obj_id, t, t, float(rec.get("predicted_iou", 1.0)))
            self.live.append(obj_id)
            new.append(obj_id)
        if prompted:
            result = self.tracker.result()  # every masklet from its latest output, re-prompted ones included
        if new and self.opts.backward_reach:
            self._track_backward(t, rgb, {i: m for i, m in zip(new, masks[~known])})
        return result

    def _revive(self, masks: np.ndarray, known: np.ndarray) -> bool:
        """Give unexplained generated masks to lost masklets whose last visible mask they overlap; marks
        the masks used as explained (``known`` is updated in place). Returns whether any was given."""
        lost = [i for i in self.live if self.masklets[i].absent > 0 and i in self.last_seen]
        if not lost:
            return False
        fresh = np.flatnonzero(~known)
        last = torch.stack([self.last_seen[i] for i in lost]).float()
        pairs = matches(mask_grid(masks[fresh]), last, self.opts.revive_iou, 1.01)
        for k, n in pairs:
            self.tracker.add_mask(lost[n], masks[fresh[k]])
            self.masklets[lost[n]].absent = 0
            known[fresh[k]] = True
        return bool(pairs)

    def _track_backward(self, t: int, rgb: np.ndarray, masks: dict[int, np.ndarray]) -> None:
        """Track masklets found on key frame ``t`` in reverse over the pending frames before it."""
        window = [p for p in self.pending if p.frame_idx >= t - self.opts.backward_reach]
        if not window:
            return
        frames = np.stack([p.image for p in window] + [rgb])  # (T, H, W, 3)
        session = VideoPredictor(self.gen.model, **self.gen.video_options).open(frames)
        with session:
            last = len(window)
            for obj_id, mask in masks.items():
                session.add_mask(last, obj_id, mask)
            for r in session.propagate(start=last, reverse=True):
                if r.frame_idx == last:
                    continue
                pend = window[r.frame_idx]
                for row, obj_id in enumerate(r.obj_ids):
                    pend.owners.claim(obj_id, r.logits[row])
                    pend.ids.append(obj_id)
                    pend.scores[obj_id] = float(r.object_scores[row])
                    pend.stability[obj_id] = float(stability(r.logits[row : row + 1])[0])
                    if float(r.object_scores[row]) > 0 and bool((r.logits[row] > 0).any()):
                        m = self.masklets[obj_id]
                        m.first_frame = min(m.first_frame, pend.frame_idx)

    # ------------------------------------------------------------ every frame
    def _record(self, t: int, rgb: np.ndarray, result: FrameResult, key: bool) -> None:
        ids = list(result.obj_ids)
        logits = result.logits  # (N, H, W)
        scores = {i: float(s) for i, s in zip(ids, result.object_scores)}
        stab = {i: float(s) for i, s in zip(ids, stability(logits))} if ids else {}
        owners = PixelOwners.from_logits(ids, logits, rgb.shape[:2])
        self.pending.append(_Pending(t, rgb, owners, ids, scores, stab, key))
        grid = mask_grid(logits > 0)  # (N, P)
        for row, obj_id in enumerate(ids):
            if scores[obj_id] >= 0 and bool(grid[row].any()):
                self.last_seen[obj_id] = grid[row].bool()
        for older, younger in self.merges.update(ids, grid):
            self._merge(t, older, younger)
        for obj_id in list(self.live):
            m = self.masklets[obj_id]
            m.absent = m.absent + 1 if scores.get(obj_id, 0.0) < 0 else 0
            if m.absent > self.opts.max_absent_frames:
                self._drop(obj_id, t)

    def _merge(self, t: int, older: int, younger: int) -> None:
        self.masklets[younger].merged_into = older
        self._drop(younger, t)
        for p in self.pending:
            if younger in p.ids:
                p.owners.relabel(younger, older)
                p.ids.remove(younger)
                p.scores.pop(younger, None)
                p.stability.pop(younger, None)
                if older not in p.ids:  # the older masklet was closed or not yet born here
                    p.ids.append(older)

    def _drop(self, obj_id: int, t: int) -> None:
        self.tracker.remove_object(obj_id)
        self.live.remove(obj_id)
        self.last_seen.pop(obj_id, None)
        self.merges.forget(obj_id)
        self.masklets[obj_id].closed_on = t

    def _final(self, p: _Pending) -> MaskletFrame:
        return MaskletFrame(p.frame_idx, p.image, p.owners.owner, sorted(p.ids), p.scores, p.stability, p.is_keyframe)


__all__ = ["MaskletFrame", "MaskletOptions", "VideoMaskGenerator"]
