"""DAM4SAM, "SAM 2.1++" (Videnovic, Lukezic, Kristan, CVPR 2025, arXiv 2411.17576): a
distractor-aware memory.

The memory has two parts. The *distractor-resolving memory* (DRM) holds the prompted frame and
frames where a look-alike was near: a confidently tracked frame (predicted IoU above 0.8, a size
within 20 % of the recent median, at least six frames after the last addition) whose other
candidate masks reach well beyond the chosen one (some box overlap at or below 0.7) becomes a
conditioning frame, its memory made from the binarised mask. The *recent-appearance memory* (RAM)
fills the remaining slots with recent frames where the object was visible: the frame before, then
one frame on every ``ram_stride``-th, stepping back over frames where the mask was empty; each gets
the temporal encoding of its rank. Pointers also leave out frames with empty masks. The candidate
choice is SAM 2's.

This follows the authors' code, which differs from the paper's description (the paper keeps RAM
and DRM as separate buffers updated every few frames; the code stores every frame and selects at
attention time); the tests compare with the code.

What the authors' code leaves open, and what samstream does:

- **Prompts after the first** (corrections): a prompted frame is a conditioning frame the DRM always
  attends to, like the first, and restarts the size history. A box is first turned into a mask by
  the decoder alone, then prompted as a mask, on any frame (the authors' initialisation).
- **Re-tracking**: a frame the method added to the DRM is tracked again (and tested again) when a
  propagation reaches it; DRM frames of an earlier pass that lie ahead are not attended.
- **Reverse tracking**: every rule is mirrored in the tracking direction.
- **Several objects**: each object's DRM, sizes and spacing are its own.
- Frames are read as SAM 2 reads them; the authors' wrapper resizes a float tensor with
  antialiasing instead (the tests feed frames prepared the wrapper's way to compare the tracking).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from samstream.config import TrackingConfig
from samstream.video.frame_outputs import FrameOutput, FrameRecord, Place
from samstream.video.memory_bank import MemoryPlan
from samstream.video.methods.base import (Choice, MethodSettings, RowCandidates, Step, StepContext, TrackingMethod,
                                          TrackView, argmax_iou, previous_frame, upsample)
from samstream.video.methods.regions import largest_component, mask_rect, rect_overlap


@dataclass(frozen=True)
class Dam4samConfig(MethodSettings):
    """DAM4SAM's settings; the defaults are the authors' (the same for every model size)."""

    name: str = field(default="dam4sam", init=False)
    drm_size: int = 4  # conditioning frames attended, the first prompt included
    ram_stride: int = 5  # recent frames in memory lie on this grid (besides the frame before)
    iou_threshold: float = 0.8  # a DRM test needs a predicted IoU above this ...
    size_ratio: tuple[float, float] = (0.8, 1.2)  # ... a size within this ratio of the recent median ...
    size_window: int = 300  # (of the sizes of the last this many tracked frames ...
    size_median_of: int = 10  # ... the last this many non-empty ones)
    min_gap: int = 5  # ... and more than this many frames since the last addition
    distractor_overlap: float = 0.7  # an alternative whose box overlap is at most this adds the frame
    multimask_max_pt_num: int = 3  # clicks that still give several candidates
    fill_hole_area: int = 0  # the authors' pipeline fills no holes


@dataclass(frozen=True)
class Dam4samRecord(FrameRecord):
    """DAM4SAM's state of one object after one frame."""

    kind = "dam4sam"
    n_pixels_pos: int  # pixels of the chosen low-resolution mask (0: the object is not visible)
    sizes: tuple[tuple[int, int], ...]  # (index in the size history, pixels) of its last non-empty sizes
    num_sizes: int  # tracked frames in the size history (since the prompt)
    last_added: int | None  # the last frame added to the DRM since the prompt
    seen: int  # frames seen since the prompt, this one included (the pointer distances' scale)
    added: bool = False  # this frame entered the DRM

    def to_data(self, to_cpu: bool = True) -> dict[str, Any]:
        return {"n_pixels_pos": self.n_pixels_pos, "sizes": [list(s) for s in self.sizes], "num_sizes": self.num_sizes,
                "last_added": self.last_added, "seen": self.seen, "added": self.added}

    @classmethod
    def from_data(cls, data: dict[str, Any], place: Place) -> "Dam4samRecord":
        last = data["last_added"]
        return cls(int(data["n_pixels_pos"]), tuple((int(i), int(n)) for i, n in data["sizes"]),
                   int(data["num_sizes"]), None if last is None else int(last), int(data["seen"]), bool(data["added"]))


def _pixels(out: FrameOutput) -> int:
    if isinstance(out.record, Dam4samRecord):
        return out.record.n_pixels_pos
    if out.low_res_logits is not None:
        return int((out.low_res_logits > 0).sum())
    return 1  # a pointer kept without its mask: it was visible when it was kept


class Dam4samMethod(TrackingMethod):
    name = "dam4sam"
    prompt_box_as_mask = True  # a box becomes a mask (decoder alone) before it is prompted

    def __init__(self, settings: Dam4samConfig) -> None:
        super().__init__(settings)
        self.cfg = settings

    def options(self) -> dict[str, Any]:
        return {"fill_hole_area": self.cfg.fill_hole_area, "add_all_frames_to_correct_as_cond": True}

    def tracking(self, policy: TrackingConfig) -> TrackingConfig:
        return replace(policy, max_cond_frames_in_attn=self.cfg.drm_size,
                       memory_temporal_stride_for_eval=self.cfg.ram_stride,
                       multimask_max_pt_num=self.cfg.multimask_max_pt_num)

    # ------------------------------------------------------------------ memory
    def _drm(self, track: TrackView, frame: int, reverse: bool) -> tuple[dict[int, FrameOutput], dict[int, FrameOutput]]:
        """(selected, unselected) conditioning frames, the selected in attention order: the latest one
        before the frame before, the first prompt, then the closest others (never the frame before)."""
        cond = track.conditioning()
        prev = previous_frame(frame, reverse)

        def behind(t: int) -> bool:
            return t > frame if reverse else t < frame

        # DRM frames ahead were made by an earlier pass over frames still to be tracked: not attended
        usable = {t: out for t, out in cond.items() if track.is_prompted(t) or behind(t)}
        selected: dict[int, FrameOutput] = {}
        before = [t for t in usable if (t > prev if reverse else t < prev)]
        if before:
            t = min(before) if reverse else max(before)
            selected[t] = usable[t]
        anchor = next((t for t in usable if track.is_prompted(t)), None)  # the first prompt still held
        if anchor is not None and anchor not in selected:
            selected[anchor] = usable[anchor]
        rest = sorted((t for t in usable if t not in selected and t != prev), key=lambda t: abs(t - frame))
        for t in rest[: max(0, self.cfg.drm_size - len(selected))]:
            selected[t] = usable[t]
        return selected, {t: out for t, out in cond.items() if t not in selected}

    def _ram(self, track: TrackView, frame: int, reverse: bool, selected: dict[int, FrameOutput], slots: int,
             ctx: StepContext) -> list[int]:
        """The recent frames read, nearest first (at most ``slots``)."""
        step, r = (1 if reverse else -1), self.cfg.ram_stride
        edge = (ctx.num_frames - 1 if ctx.num_frames is not None else frame) if reverse else 0
        cond = track.conditioning()

        def inside(t: int) -> bool:  # the authors step back while the frame index stays above 0
            return t < edge if reverse else t > edge

        def usable(t: int, out: FrameOutput | None) -> bool:
            return out is not None and _pixels(out) >= 1 and t not in selected

        def step_back(t: int, by: int) -> int | None:
            while True:
                t += by * step
                if not inside(t):
                    return None
                if usable(t, track.tracked_output(t)):
                    return t

        found: list[int] = []
        p: int | None = previous_frame(frame, reverse)
        for i in range(slots):
            if i == 0:
                out = cond.get(p) if p in cond else track.tracked_output(p)  # a DRM frame just added is read here
                if not usable(p, out):
                    p = step_back(p, 1)
            elif p is not None:
                p = (-(-(p + 1) // r) * r) if reverse else ((p - 1) // r) * r  # the grid point before
                if not usable(p, track.tracked_output(p)):
                    p = step_back(p, r)
            if p is None:
                break
            found.append(p)
        return found

    def _plan(self, track: TrackView, frame: int, reverse: bool, ctx: StepContext
              ) -> tuple[MemoryPlan[FrameOutput], list[int]]:
        selected, unselected = self._drm(track, frame, reverse)
        ram = self._ram(track, frame, reverse, selected, ctx.memory.num_maskmem - len(selected), ctx)
        cond = track.conditioning()
        top = ctx.memory.num_maskmem - 1
        frames = [(0, out) for out in selected.values()]
        for rank, t in reversed(list(enumerate(ram))):  # oldest first; the nearest gets the last slot
            out = cond.get(t) if t in cond else track.tracked_output(t)
            frames.append((top - rank, out))  # type: ignore[arg-type]
        prior = self._prior(track, frame, reverse)
        max_ptrs = min(prior.seen + 1, ctx.memory.max_obj_ptrs_in_encoder)  # frames seen so far, this one included
        ptrs = [(abs(frame - t), out) for t, out in selected.items() if (t >= frame if reverse else t <= frame)]
        for dist in range(1, max_ptrs):
            t = frame + dist if reverse else frame - dist
            if t < 0 or (ctx.num_frames is not None and t >= ctx.num_frames):
                break
            out = track.tracked_output(t)
            if out is None:
                out = unselected.get(t)
            if out is not None and _pixels(out) >= 1:  # pointers of frames where the object was seen
                ptrs.append((dist, out))
        return MemoryPlan(frames, ptrs, max_ptrs), ram

    def plan(self, track: TrackView, frame: int, reverse: bool, ctx: StepContext) -> list[MemoryPlan[FrameOutput]]:
        return [self._plan(track, frame, reverse, ctx)[0]]

    def prompt_plan(self, track: TrackView, frame: int, reverse: bool, ctx: StepContext) -> MemoryPlan[FrameOutput]:
        return self._plan(track, frame, reverse, ctx)[0]

    def attendable(self, track: TrackView, frame: int, ctx: StepContext) -> tuple[set[int], set[int]]:
        _, ram = self._plan(track, frame, False, ctx)
        return {*ram, frame - 1}, set(range(frame - ctx.memory.max_obj_ptrs_in_encoder + 1, frame))

    # ------------------------------------------------------------------ choice and the DRM test
    def _prior(self, track: TrackView, frame: int, reverse: bool) -> Dam4samRecord:
        prev = track.final_output(previous_frame(frame, reverse))
        if prev is not None and isinstance(prev.record, Dam4samRecord):
            return prev.record
        return Dam4samRecord(0 if prev is None else _pixels(prev), (), 0, None, 1)

    def choose(self, track: TrackView, frame: int, reverse: bool, cands: RowCandidates, ctx: StepContext) -> Choice:
        best = argmax_iou(cands.ious[0]) if cands.multimask else 0
        prior = self._prior(track, frame, reverse)
        low = cands.low_res[0]  # (K, h, w)
        chosen = upsample(low[best], ctx.video_hw) > 0  # the mask at video resolution
        n = int(chosen.sum())
        num_sizes = prior.num_sizes + 1
        window = [(i, s) for i, s in prior.sizes if i >= num_sizes - self.cfg.size_window]
        if n >= 1:
            window.append((num_sizes - 1, n))
        sizes = tuple(window[-self.cfg.size_median_of:])
        ratio = n / float(np.median([s for _, s in sizes])) if num_sizes > 1 and n >= 1 else -1.0
        last = prior.last_added
        lo, hi = self.cfg.size_ratio
        added = False
        if (cands.multimask and bool(cands.ious[0, best] > self.cfg.iou_threshold) and lo <= ratio <= hi
                and (last is None or abs(frame - last) > self.cfg.min_gap)):
            others = [upsample(low[k], ctx.video_hw) > 0 for k in range(low.shape[0]) if k != best]
            added = self._distractor_near(chosen.cpu().numpy(), [m.cpu().numpy() for m in others])
        record = Dam4samRecord(int((low[best] > 0).sum()), sizes, num_sizes, frame if added else last,
                               prior.seen + 1, added)
        return Choice(((0, best if cands.multimask else None),), as_cond=added, info=record)

    def _distractor_near(self, chosen: np.ndarray, others: list[np.ndarray]) -> bool:
        """Whether some other candidate, beyond the chosen mask, reaches far enough to be a look-alike:
        its largest part outside the chosen mask, joined with it, has a box overlapping the chosen
        mask's box by at most ``distractor_overlap``."""
        box = mask_rect(chosen)
        extras = [largest_component(m & ~chosen) for m in others if (m & ~chosen).any()]
        overlaps = [rect_overlap(box, mask_rect(extra | chosen)) for extra in extras]
        return bool(overlaps) and min(overlaps) <= self.cfg.distractor_overlap

    def finish(self, track: TrackView, frame: int, reverse: bool, choice: Choice, outputs: list[FrameOutput],
               ctx: StepContext) -> Step:
        return Step(replace(outputs[0], record=choice.info), choice.as_cond)

    def prompt_record(self, track: TrackView, frame: int, reverse: bool, output: FrameOutput,
                      choice: Choice | None, ctx: StepContext) -> FrameRecord | None:
        # a prompt restarts the size history and the DRM spacing, as the authors' initialisation does
        pixels = 0 if output.low_res_logits is None else int((output.low_res_logits > 0).sum())
        return Dam4samRecord(pixels, (), 0, None, 1)
