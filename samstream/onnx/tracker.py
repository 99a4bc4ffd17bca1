"""Online tracking on an ONNX export with onnxruntime: the API and results of :class:`samstream.StreamTracker`.

>>> tracker = OnnxTracker("tiny-onnx", threads=2)
>>> for rgb in frames:
...     result = tracker.step(rgb)                         # every known object's mask on this frame
...     if new_object:
...         result = tracker.add_points(obj_id=3, points=[[x, y]], labels=[1])   # or add_box, add_mask

The graphs compute; the host keeps the memory and decides, with samstream's own memory plan
(:func:`samstream.video.memory_bank.plan_memory`), which memories each object attends to. What the
host applies after the graphs (the mask choice, hole filling, bfloat16 storage of memories, the
upsampling to the frame size, a mask prompt taken as the output) follows the manifest's ``tracking``
settings, with the few parameters those steps need from its ``constants``. Per-object state is a
:class:`HostTrack`, which offers ``plan_memory`` what it reads: ``cond`` and ``non_cond``, dicts from
frame index to outputs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from samstream.errors import InvalidInputError, PromptError, UnknownObjectError
from samstream.onnx.arrays import FLOAT, fill_holes, resize_bilinear, to_bfloat16_values
from samstream.onnx.prompts import Heads, binary_mask, heads
from samstream.onnx.runtime import OnnxGraphs
from samstream.prompt_rules import check_obj_id, point_prompts
from samstream.rgb import to_rgb
from samstream.video.memory_bank import plan_memory

# a mask prompt taken as the output has logits of +10 / -10, as in SAM2Model.mask_as_output
MASK_SCALE, MASK_BIAS = 20.0, -10.0


@dataclass
class HostOutput:
    """One object's result on one frame (numpy), as the memory plan sees a frame output."""

    low_res_logits: np.ndarray | None  # (1, 1, s, s), None once only the pointer is kept
    obj_ptr: np.ndarray  # (1, C)
    object_score: float
    memory: np.ndarray | None = None  # (1, D, h, w), bfloat16 values, None until committed


@dataclass
class HostTrack:
    obj_id: int
    points: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # frame -> (1, N, 2), (1, N)
    cond: dict[int, HostOutput] = field(default_factory=dict)
    non_cond: dict[int, HostOutput] = field(default_factory=dict)
    pending_cond: dict[int, HostOutput] = field(default_factory=dict)
    pending_non_cond: dict[int, HostOutput] = field(default_factory=dict)
    tracked: set[int] = field(default_factory=set)  # frames reached by tracking

    def conditioning(self) -> dict[int, HostOutput]:
        """What the memory plan reads (:class:`samstream.video.memory_bank.MemorySource`)."""
        return self.cond

    def tracked_output(self, frame: int) -> HostOutput | None:
        return self.non_cond.get(frame)

    def output_on(self, frame: int, prefer_cond: bool) -> HostOutput | None:
        pending = self.pending_cond if prefer_cond else self.pending_non_cond
        for store in (pending, self.cond, self.non_cond):
            if frame in store:
                return store[frame]
        return None


@dataclass
class OnnxFrameResult:
    """As :class:`samstream.FrameResult`, in numpy."""

    frame_idx: int
    obj_ids: list[int]
    logits: np.ndarray  # (N, H, W) float32; -1024 where an object has no output
    object_scores: np.ndarray  # (N,) float32, NaN where an object has no output

    @property
    def masks(self) -> np.ndarray:
        return self.logits > 0

    def mask(self, obj_id: int) -> np.ndarray:
        return self.masks[self.obj_ids.index(obj_id)]


class OnnxTracker:
    """Tracks objects through a stream of frames on the exported graphs, with bounded memory."""

    def __init__(self, export_dir: str | os.PathLike[str] | OnnxGraphs, max_cond_frames: int = 8,
                 threads: int | None = None, variant: str | None = None) -> None:
        if isinstance(max_cond_frames, bool) or not isinstance(max_cond_frames, int) or max_cond_frames < 1:
            raise InvalidInputError(f"max_cond_frames: expected a positive integer, got {max_cond_frames!r}")
        self.graphs = export_dir if isinstance(export_dir, OnnxGraphs) else OnnxGraphs(export_dir, threads, variant)
        for name in ("memory_encoder", "memory_attention"):
            if not self.graphs.has(name):
                raise InvalidInputError(f"export_dir: the export has no {name} graph (parts="
                                        f"{self.graphs.manifest.parts!r}); export with --parts all to track")
        self.settings = self.graphs.manifest.tracking
        self.memory_cfg = self.graphs.config.memory
        self.policy = self.graphs.config.tracking
        self.max_cond_frames = max_cond_frames
        self.objects: dict[int, HostTrack] = {}
        self.frame_idx = -1
        self.video_size: tuple[int, int] | None = None
        self._feats: dict[str, np.ndarray] | None = None

    @property
    def obj_ids(self) -> list[int]:
        return list(self.objects)

    # ------------------------------------------------------------------ steps
    def step(self, frame: Any) -> OnnxFrameResult:
        """Track every object into the next frame ((H, W, 3) uint8 RGB array or PIL image)."""
        rgb = to_rgb(frame, "frame")
        if self.video_size is None:
            self.video_size = rgb.shape[:2]
        elif rgb.shape[:2] != self.video_size:
            h, w = self.video_size
            raise InvalidInputError(f"frame: size {rgb.shape[1]}x{rgb.shape[0]} differs from the stream's {w}x{h}; "
                                    f"resize frames to one size")
        if self.frame_idx >= 0:
            self._commit()
        self.frame_idx += 1
        self._feats = self.graphs.encode(self.graphs.frame_input(rgb))
        self._prune(self.frame_idx)
        for track in self.objects.values():
            track.non_cond[self.frame_idx] = self._track(track)
            track.tracked.add(self.frame_idx)
        return self.result(prefer_cond=False)

    def add_points(self, obj_id: int, points: Any, labels: Any, clear_old: bool = True) -> OnnxFrameResult:
        """Clicks on the current frame for a new or known object; returns the frame's updated result."""
        return self._clicks(obj_id, points, labels, None, clear_old)

    def add_box(self, obj_id: int, box: Any, points: Any = None, labels: Any = None) -> OnnxFrameResult:
        """A box (x0, y0, x1, y1) on the current frame, optionally with clicks."""
        return self._clicks(obj_id, points, labels, box, True)

    def add_mask(self, obj_id: int, mask: Any) -> OnnxFrameResult:
        """A binary (H, W) mask of an object on the current frame (bools or 0 / 1, any size; resized to
        the model input). It replaces the frame's clicks, as :meth:`samstream.StreamTracker.add_mask`."""
        obj_id = self._check_prompt(obj_id, "add_mask")
        m = binary_mask(mask, self.graphs.image_size)  # (1, 1, S, S)
        track = self.objects.get(obj_id, HostTrack(obj_id))  # a new object is kept once its output is made
        frame = self.frame_idx
        is_cond = frame not in track.tracked
        if self.settings["use_mask_input_as_output_without_sam"]:
            out = self._mask_as_output(m)
        else:  # the decoder reads the mask (at its mask-input size) and no click
            side = self.graphs.image_size // 4
            mask_in = resize_bilinear(m, (side, side), antialias=True)
            head = self._heads(self._embed(track, frame, is_cond), *_no_click(), mask_in, self._multimask(is_cond, 0))
            out = self._output(head)
        self.objects.setdefault(obj_id, track)
        track.points.pop(frame, None)
        (track.pending_cond if is_cond else track.pending_non_cond)[frame] = out
        return self.result(prefer_cond=is_cond)

    def remove_object(self, obj_id: int) -> None:
        self._track_of(obj_id)
        del self.objects[obj_id]

    def _track_of(self, obj_id: Any) -> HostTrack:
        if obj_id not in self.objects:
            known = ", ".join(str(i) for i in self.objects) or "none"
            raise UnknownObjectError(f"obj_id: unknown object {obj_id!r} (known ids: {known})")
        return self.objects[obj_id]

    def _check_prompt(self, obj_id: Any, verb: str) -> int:
        """The object id of a prompt on the current frame, checked (a new id makes an object once the
        prompt itself is checked too)."""
        if self._feats is None or self.video_size is None:
            raise PromptError(f"{verb}: no frame yet; call step(frame) first, then prompt on that frame")
        return check_obj_id(obj_id)

    def _clicks(self, obj_id: Any, points: Any, labels: Any, box: Any, clear_old: bool) -> OnnxFrameResult:
        obj_id = self._check_prompt(obj_id, "add_points")
        assert self.video_size is not None
        pts = point_prompts(points, labels, box, self.video_size, self.graphs.image_size)
        if pts.batched or pts.coords.shape[0] != 1:
            raise PromptError("points: one object at a time; give (N, 2) points and (N,) labels")
        track = self.objects.setdefault(obj_id, HostTrack(obj_id))
        frame = self.frame_idx
        old = track.points.get(frame)
        if old is not None and not clear_old:
            track.points[frame] = (np.concatenate([old[0], pts.coords], 1), np.concatenate([old[1], pts.labels], 1))
        else:
            track.points[frame] = (pts.coords, pts.labels)
        is_cond = frame not in track.tracked  # a first prompt conditions; a correction stays a tracked frame
        prev = track.output_on(frame, prefer_cond=is_cond)
        out = self._prompt(track, frame, prev.low_res_logits if prev is not None else None, is_init=is_cond)
        (track.pending_cond if is_cond else track.pending_non_cond)[frame] = out
        return self.result(prefer_cond=is_cond)

    # ----------------------------------------------------------- model steps
    def _multimask(self, is_init: bool, num_points: int) -> bool:
        s = self.settings
        return bool(s["multimask_output_in_sam"] and (is_init or s["multimask_output_for_tracking"])
                    and s["multimask_min_pt_num"] <= num_points <= s["multimask_max_pt_num"])

    def _conditioned(self, track: HostTrack, frame: int) -> np.ndarray:
        """(1, C, h, w) features of the current frame conditioned on ``track``'s memory."""
        assert self._feats is not None
        plan = plan_memory(track, frame, self.memory_cfg, self.policy, None, False)  # a stream: no known length
        memories = np.stack([out.memory for _, out in plan.frames])  # (F, 1, D, h, w)
        slots = np.array([slot for slot, _ in plan.frames], dtype=np.int64)
        ptrs = np.stack([out.obj_ptr for _, out in plan.ptrs])  # (P, 1, C)
        dists = np.array([d for d, _ in plan.ptrs], dtype=FLOAT)
        return self.graphs.attend(self._feats["image_embed"], memories, slots, ptrs, dists, plan.max_ptrs - 1)

    def _heads(self, embed: np.ndarray, coords: np.ndarray, labels: np.ndarray, mask_in: np.ndarray | None,
               multimask: bool) -> Heads:
        assert self._feats is not None
        masks, ious, scores, ptrs = self.graphs.decode(embed, self._feats, coords, labels, mask_in)
        return heads(masks, ious, scores, ptrs, multimask, self.settings)

    def _output(self, head: Heads) -> HostOutput:
        low = head.best
        if self.settings["fill_hole_area"] > 0:
            low = fill_holes(low, self.settings["fill_hole_area"])
        return HostOutput(low, head.obj_ptr, float(head.scores[0, 0]))

    def _embed(self, track: HostTrack, frame: int, is_init: bool) -> np.ndarray:
        """The features a prompt is decoded against: without memory on a first prompt, else conditioned."""
        assert self._feats is not None
        return self._feats["prompt_embed"] if is_init else self._conditioned(track, frame)

    def _prompt(self, track: HostTrack, frame: int, prev: np.ndarray | None, is_init: bool) -> HostOutput:
        embed = self._embed(track, frame, is_init)
        coords, labels = track.points[frame]
        mask_in = None if prev is None else np.clip(prev, -self.settings["mask_input_clamp"],
                                                    self.settings["mask_input_clamp"])
        head = self._heads(embed, coords, labels, mask_in, self._multimask(is_init, labels.shape[1]))
        return self._output(head)

    def _mask_as_output(self, m: np.ndarray) -> HostOutput:
        """A (1, 1, S, S) binary mask taken as the output (:meth:`samstream.model.sam2.SAM2Model.mask_as_output`):
        its logits at +-10 shrunk to the low-res size; the object pointer decoded from the raw features with
        the mask (through the model's stride-4 convolution) as the decoder's mask input; present if any
        pixel is set."""
        assert self._feats is not None
        manifest, side = self.graphs.manifest, self.graphs.image_size // 4
        low = resize_bilinear(m * FLOAT(MASK_SCALE) + FLOAT(MASK_BIAS), (side, side), antialias=True)
        kernel = np.asarray(manifest.constant("mask_downsample_weight"), FLOAT).reshape(4, 4)
        bias = FLOAT(manifest.constant("mask_downsample_bias")[0])
        down = np.einsum("iajb,ab->ij", m[0, 0].reshape(side, 4, side, 4), kernel) + bias  # the 4x4 stride-4 conv
        head = self._heads(self._feats["image_embed"], *_no_click(), down[None, None].astype(FLOAT), False)
        ptr, present = head.obj_ptr, FLOAT(m.any())
        if self.settings["pred_obj_scores"]:
            if self.graphs.config.memory.fixed_no_obj_ptr:
                ptr = present * ptr
            ptr = ptr + (1 - present) * np.asarray(manifest.constant("no_obj_ptr"), FLOAT)[None]
        if self.settings["fill_hole_area"] > 0:
            low = fill_holes(low, self.settings["fill_hole_area"])
        return HostOutput(low, ptr.astype(FLOAT), float(MASK_SCALE * present + MASK_BIAS))

    def _track(self, track: HostTrack) -> HostOutput:
        """An object's output on the current frame, from its memory; its own memory encoded."""
        embed = self._conditioned(track, self.frame_idx)
        head = self._heads(embed, *_no_click(), None, self._multimask(False, 0))
        out = self._output(head)
        out.memory = self._memory(head.best, head.scores, binarize=False)  # from the mask before hole filling
        return out

    def _memory(self, low: np.ndarray, scores: np.ndarray, binarize: bool) -> np.ndarray:
        assert self._feats is not None
        memory = self.graphs.encode_memory(self._feats["image_embed"], low, scores, binarize)
        return to_bfloat16_values(memory) if self.settings["memory_dtype"] == "bfloat16" else memory

    def _commit(self) -> None:
        """Memories of the current frame's prompted outputs, before the stream moves on."""
        for track in self.objects.values():
            for pending, store in ((track.pending_non_cond, track.non_cond), (track.pending_cond, track.cond)):
                for frame, out in pending.items():
                    if out.memory is None:
                        out.memory = self._memory(out.low_res_logits, np.array([[out.object_score]], FLOAT),
                                                  binarize=bool(self.settings["binarize_mask_from_pts"]))
                    store[frame] = out
                pending.clear()
            for frame in track.cond:
                track.non_cond.pop(frame, None)

    def _prune(self, frame: int) -> None:
        """Forget what no future frame attends to: memories past the memory window (a bound a little
        wider than the plan's), pointers past the pointer window, the oldest corrections' prompts."""
        mem = self.memory_cfg
        memory_reach = self.policy.memory_temporal_stride_for_eval * mem.num_maskmem + 1
        for track in self.objects.values():
            if len(track.cond) > self.max_cond_frames:  # keep the first prompted frame and the latest
                for t in sorted(track.cond)[1 : len(track.cond) - self.max_cond_frames + 1]:
                    del track.cond[t]
            for t in list(track.non_cond):
                if frame - t >= mem.max_obj_ptrs_in_encoder and frame - t > memory_reach:
                    del track.non_cond[t]
                elif frame - t > memory_reach:
                    track.non_cond[t] = replace(track.non_cond[t], low_res_logits=None, memory=None)
            track.tracked &= {frame - 1}
            for t in [t for t in track.points if t not in track.cond and t != frame]:
                del track.points[t]

    # ---------------------------------------------------------------- output
    def result(self, prefer_cond: bool = False) -> OnnxFrameResult:
        """Every object's current result on the current frame, at frame resolution."""
        assert self.video_size is not None
        h, w = self.video_size
        outs = [t.output_on(self.frame_idx, prefer_cond) for t in self.objects.values()]
        logits = np.full((len(outs), h, w), FLOAT(self.settings["no_object_score"]), dtype=FLOAT)
        scores = np.full(len(outs), np.nan, dtype=FLOAT)
        for i, out in enumerate(outs):
            if out is not None and out.low_res_logits is not None:
                logits[i] = resize_bilinear(out.low_res_logits[0, 0], (h, w))
                scores[i] = out.object_score
        return OnnxFrameResult(self.frame_idx, self.obj_ids, logits, scores)


def _no_click() -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (1, 1, 2) and label (1, 1) of "no click": one padding point."""
    return np.zeros((1, 1, 2), FLOAT), np.full((1, 1), -1, np.int32)
