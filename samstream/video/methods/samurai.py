"""SAMURAI (Yang et al., 2024, arXiv 2411.11922): motion-aware candidate choice and memory selection.

Per object, a Kalman filter follows the box of the chosen mask. After ``stable_frames_threshold``
frames whose masks were confident (predicted IoU above ``stable_ious_threshold``), each candidate
is scored by ``w * IoU(predicted box, candidate's box) + (1 - w) * predicted IoU`` instead of the
predicted IoU alone, so that a look-alike far from where the object is heading loses. Memory keeps
only frames that look reliable (predicted IoU, object score and motion score above thresholds); each
gets the temporal encoding of its rank, not of its distance. An object counts as present down to an
object score of -1 (SAM 2: 0), so a faint object keeps its mask and pointer.

What the authors' code leaves open, and what samstream does (the natural extension):

- **Several objects**: each object has its own filter (the authors keep one on the model).
- **Prompts**: a prompted frame restarts the filter (a user's mask replaces the motion so far); a
  single click, which gives three candidates, initialises it from the best one, as the authors'
  first frame does. Corrections therefore never inherit a wrong motion.
- **Reverse tracking**: the filter runs in the tracking direction (its velocity is learnt from the
  frames as they come), and memory is selected among the frames tracked before, in that direction.
- Frames not tracked (a gap, an object added later) are skipped by the memory scan; the authors'
  scan, which reads frames below the current one directly, would fail there.

State per (object, frame): :class:`SamuraiRecord`, the filter after the frame, kept with the frame's
output (so a restored frame state tracks on exactly).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from samstream.config import ModelConfig
from samstream.video.frame_outputs import FrameOutput, FrameRecord, Place
from samstream.video.memory_bank import MemoryPlan, attendable_frames, closest_cond_frames, plan_memory
from samstream.video.methods import kalman
from samstream.video.methods.base import (Choice, MethodSettings, RowCandidates, Step, StepContext, TrackingMethod,
                                          TrackView, argmax_iou, previous_frame, upsample)

LARGE_EMBED_DIM = 144  # Hiera-L's first stage width: SAMURAI's large config weighs motion less


@dataclass(frozen=True)
class SamuraiConfig(MethodSettings):
    """SAMURAI's settings; the defaults are the authors' (``configs/samurai/sam2.1_hiera_*.yaml``)
    for the tiny, small and base+ models: use :meth:`for_model` for a model's own."""

    name: str = field(default="samurai", init=False)
    stable_frames_threshold: int = 15  # confident frames before the motion score is used
    stable_ious_threshold: float = 0.3  # predicted IoU that keeps the filter confident
    min_obj_score_logits: float = -1.0  # presence threshold of the object score (SAM 2: 0)
    kf_score_weight: float = 0.25  # weight of the motion score (the authors' large config: 0.15)
    memory_bank_iou_threshold: float = 0.5  # memory keeps frames with predicted IoU above this ...
    memory_bank_obj_score_threshold: float = 0.0  # ... and object score above this ...
    memory_bank_kf_score_threshold: float = 0.0  # ... and motion score above this (where there is one)

    @classmethod
    def for_model(cls, cfg: ModelConfig, **changes: Any) -> "SamuraiConfig":
        """The authors' settings for a model's size: Hiera-L (and larger) weighs motion 0.15, the others 0.25."""
        weight = 0.15 if cfg.hiera.embed_dim >= LARGE_EMBED_DIM else 0.25
        return cls(**{"kf_score_weight": weight, **changes})


@dataclass(frozen=True)
class SamuraiRecord(FrameRecord):
    """SAMURAI's state of one object after one frame."""

    kind = "samurai"
    mean: tuple[float, ...] | None  # the filter's state (8,), None before it starts
    covariance: tuple[float, ...] | None  # (8 x 8) row-major
    stable_frames: int  # confident frames so far (0: the filter restarts on the next frame)
    best_iou: float  # the chosen candidate's predicted IoU (float32 value)
    kf_score: float | None  # its motion score (float32 value), None outside the motion phase

    def filter(self) -> tuple[np.ndarray, np.ndarray] | None:
        if self.mean is None or self.covariance is None:
            return None
        return np.array(self.mean, dtype=np.float64), np.array(self.covariance, dtype=np.float64).reshape(8, 8)

    def to_data(self, to_cpu: bool = True) -> dict[str, Any]:
        return {"mean": None if self.mean is None else list(self.mean),
                "covariance": None if self.covariance is None else list(self.covariance),
                "stable_frames": self.stable_frames, "best_iou": self.best_iou, "kf_score": self.kf_score}

    @classmethod
    def from_data(cls, data: dict[str, Any], place: Place) -> "SamuraiRecord":
        mean, cov = data["mean"], data["covariance"]
        return cls(None if mean is None else tuple(float(v) for v in mean),
                   None if cov is None else tuple(float(v) for v in cov), int(data["stable_frames"]),
                   float(data["best_iou"]), None if data["kf_score"] is None else float(data["kf_score"]))


def _record(state: tuple[np.ndarray, np.ndarray] | None, stable: int, best_iou: float,
            kf_score: float | None) -> SamuraiRecord:
    if state is None:
        return SamuraiRecord(None, None, stable, best_iou, kf_score)
    mean, cov = state
    return SamuraiRecord(tuple(float(v) for v in mean), tuple(float(v) for v in cov.reshape(-1)), stable,
                         best_iou, kf_score)


def mask_box(mask_logits: Tensor) -> list[int]:
    """[x0, y0, x1, y1] inclusive pixel bounds of ``logits > 0`` (model space); [0, 0, 0, 0] if empty."""
    inside = mask_logits > 0.0
    rows = torch.nonzero(inside.any(dim=1)).flatten()
    if rows.numel() == 0:
        return [0, 0, 0, 0]
    cols = torch.nonzero(inside.any(dim=0)).flatten()
    return [int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])]


class SamuraiMethod(TrackingMethod):
    name = "samurai"

    def __init__(self, settings: SamuraiConfig) -> None:
        super().__init__(settings)
        self.cfg = settings
        self.presence_threshold = settings.min_obj_score_logits

    # ------------------------------------------------------------------ the filter
    def _prior(self, track: TrackView, frame: int, reverse: bool) -> tuple[tuple[np.ndarray, np.ndarray] | None, int]:
        """The filter and confident-frame count this object reached on the frame before."""
        prev = track.final_output(previous_frame(frame, reverse))
        record = None if prev is None else prev.record
        if not isinstance(record, SamuraiRecord):
            return None, 0
        return record.filter(), record.stable_frames

    def _select(self, cands: RowCandidates, state: tuple[np.ndarray, np.ndarray] | None, stable: int,
                ctx: StepContext) -> tuple[int, SamuraiRecord]:
        """The candidate SAMURAI takes among three, and the filter after it."""
        cfg = self.cfg
        ious = cands.ious[0]  # (K,) float32
        high = upsample(cands.low_res[0], (ctx.image_size, ctx.image_size))  # (K, S, S), as the authors measure boxes
        if state is None or stable == 0:  # (re)start: the best predicted IoU, the filter from its box
            best = argmax_iou(ious)
            state = kalman.initiate(kalman.xyxy_to_xyah(mask_box(high[best])))
            return best, _record(state, stable + 1, float(ious[best]), None)
        mean, cov = kalman.predict(*state)
        if stable < cfg.stable_frames_threshold:  # warm-up: the best predicted IoU updates the filter
            best = argmax_iou(ious)
            if bool(ious[best] > cfg.stable_ious_threshold):  # float32 comparison, as the authors' tensors
                mean, cov = kalman.update(mean, cov, kalman.xyxy_to_xyah(mask_box(high[best])))
                stable += 1
            else:
                stable = 0
            return best, _record((mean, cov), stable, float(ious[best]), None)
        # motion phase: predicted IoU and agreement with the predicted box, weighted
        boxes = [mask_box(high[i]) for i in range(high.shape[0])]
        predicted = kalman.xyah_to_xyxy(mean)
        kf_ious = torch.tensor([kalman.box_iou(predicted, b) for b in boxes], device=ious.device)  # float32
        weighted = cfg.kf_score_weight * kf_ious + (1 - cfg.kf_score_weight) * ious
        best = int(torch.argmax(weighted, dim=-1))
        if bool(ious[best] < cfg.stable_ious_threshold):
            stable = 0
        else:
            mean, cov = kalman.update(mean, cov, kalman.xyxy_to_xyah(boxes[best]))
        return best, _record((mean, cov), stable, float(ious[best]), float(kf_ious[best]))

    # ------------------------------------------------------------------ tracked frames
    def choose(self, track: TrackView, frame: int, reverse: bool, cands: RowCandidates, ctx: StepContext) -> Choice:
        state, stable = self._prior(track, frame, reverse)
        if not cands.multimask:  # one output: nothing to choose, the filter carries on unchanged
            return Choice(((0, None),), info=_record(state, stable, float(cands.ious[0, 0]), None))
        best, record = self._select(cands, state, stable, ctx)
        return Choice(((0, best),), info=record)

    def finish(self, track: TrackView, frame: int, reverse: bool, choice: Choice, outputs: list[FrameOutput],
               ctx: StepContext) -> Step:
        return Step(replace(outputs[0], record=choice.info))

    def choose_prompt(self, track: TrackView, frame: int, reverse: bool, cands: RowCandidates,
                      ctx: StepContext) -> Choice:
        if not cands.multimask:  # a box or several clicks: the filter restarts on the next frame
            return Choice(((0, None),), info=_record(None, 0, float(cands.ious[0, 0]), None))
        best, record = self._select(cands, None, 0, ctx)  # a single click starts the filter, as on the authors' first frame
        return Choice(((0, best),), info=record)

    def prompt_record(self, track: TrackView, frame: int, reverse: bool, output: FrameOutput,
                      choice: Choice | None, ctx: StepContext) -> FrameRecord | None:
        if choice is None:  # a mask prompt
            return _record(None, 0, 1.0, None)
        return choice.info

    # ------------------------------------------------------------------ memory
    def memory_frames(self, track: TrackView, frame: int, reverse: bool, ctx: StepContext) -> list[int]:
        """The tracked frames the object's memory holds on ``frame``, oldest first: the newest
        ``num_maskmem - 2`` or ``num_maskmem - 1`` reliable ones, then the frame before."""
        cfg, slots = self.cfg, ctx.memory.num_maskmem - 1
        if reverse:
            last = ctx.num_frames - 1 if ctx.num_frames is not None else frame
            scan = range(frame + 1, last + 1)
        else:  # the authors' scan stops at frame 2 (frames 0 and 1 are read only as the frame before)
            scan = range(frame - 1, 1, -1)
        valid: list[int] = []  # oldest first
        for t in scan:
            if len(valid) >= slots:  # only the newest ones are read
                break
            out = track.tracked_output(t)
            record = None if out is None else out.record
            if isinstance(record, SamuraiRecord) and out is not None and record.best_iou > cfg.memory_bank_iou_threshold \
                    and float(out.object_score) > cfg.memory_bank_obj_score_threshold \
                    and (record.kf_score is None or record.kf_score > cfg.memory_bank_kf_score_threshold):
                valid.insert(0, t)
        prev = previous_frame(frame, reverse)
        if prev not in valid:
            valid.append(prev)
        return valid[-slots:]

    def plan(self, track: TrackView, frame: int, reverse: bool, ctx: StepContext) -> list[MemoryPlan[FrameOutput]]:
        base = plan_memory(track, frame, ctx.memory, ctx.policy, ctx.num_frames, reverse)  # its pointers are SAM 2's
        chosen, others = closest_cond_frames(frame, track.conditioning(), ctx.policy.max_cond_frames_in_attn)
        frames: list[tuple[int, FrameOutput]] = [(0, out) for out in chosen.values()]
        selected = self.memory_frames(track, frame, reverse, ctx)
        top = ctx.memory.num_maskmem - 1
        for rank, t in enumerate(reversed(selected)):  # the newest gets the last slot: rank, not distance
            out = track.tracked_output(t) or others.get(t)
            if out is not None:
                frames.append((top - rank, out))
        frames[len(chosen):] = sorted(frames[len(chosen):], key=lambda e: e[0])  # oldest first, as the authors attend
        return [MemoryPlan(frames, base.ptrs, base.max_ptrs)]

    def prompt_plan(self, track: TrackView, frame: int, reverse: bool, ctx: StepContext) -> MemoryPlan[FrameOutput]:
        return self.plan(track, frame, reverse, ctx)[0]

    def attendable(self, track: TrackView, frame: int, ctx: StepContext) -> tuple[set[int], set[int]]:
        # later frames read these or newer reliable frames (reliability is fixed once tracked)
        _, pointers = attendable_frames(frame, ctx.memory, ctx.policy)
        return set(self.memory_frames(track, frame, False, ctx)), pointers
