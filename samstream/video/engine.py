"""Runs the model on video frames for the objects of a session.

The engine owns the per-frame feature cache and the model calls; the session state
(:mod:`samstream.video.state`) owns what is remembered. Objects whose memories have the same
layout on a frame form a group; the frame's image features, and the first memory-attention steps,
are computed once for all. A group then runs as one batch on a GPU and one object at a time on a
CPU (see :mod:`samstream.model.memory_attention`).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from samstream.model.sam2 import NO_OBJECT_SCORE, HeadOutput, ImageFeatures, SAM2Model
from samstream.video.memory_bank import MemoryPlan, plan_memory, stack_memory
from samstream.video.options import VideoOptions
from samstream.video.state import FrameOutput, ObjectTrack, PointPrompt, SessionState


class Engine:
    def __init__(
        self,
        model: SAM2Model,
        options: VideoOptions,
        frame_tensor: Callable[[int], Tensor],
        state: SessionState,
    ) -> None:
        self.model = model
        self.opts = options
        self.frame_tensor = frame_tensor  # frame index -> (3, S, S) preprocessed frame
        self.state = state
        self.device = model.device
        self.storage = torch.device("cpu") if options.offload_state_to_cpu else self.device
        self._features: OrderedDict[int, ImageFeatures] = OrderedDict()
        self.memory_pos: Tensor | None = None  # (1, mem_dim, h, w), equal for every memory

    # -------------------------------------------------------------- features
    def features(self, frame: int) -> ImageFeatures:
        feats = self._features.get(frame)
        if feats is None:
            image = self.frame_tensor(frame).to(self.device, torch.float32).unsqueeze(0)
            feats = self.model.encode_image(image)
            self._features[frame] = feats
            while len(self._features) > max(1, self.opts.feature_cache_size):
                self._features.popitem(last=False)
        else:
            self._features.move_to_end(frame)
        return feats

    def clear_cache(self) -> None:
        self._features.clear()

    # ----------------------------------------------------------------- steps
    def _use_multimask(self, is_init: bool, num_points: int) -> bool:
        t = self.model.cfg.tracking
        return (t.multimask_output_in_sam and (is_init or t.multimask_output_for_tracking)
                and t.multimask_min_pt_num <= num_points <= t.multimask_max_pt_num)

    def _conditioned(self, feats: ImageFeatures, plans: list[MemoryPlan]) -> Tensor:
        mem = self.model.cfg.memory
        memory, memory_pos, num_ptrs = stack_memory(
            plans, self.memory_pos if self.memory_pos is not None else torch.zeros(1),
            self.model.maskmem_tpos_enc, self.model.obj_ptr_tpos_proj, mem, self.model.cfg.hidden_dim,
            self.device, feats.embed.dtype,
        )
        return self.model.condition_on_memory(feats.embed, feats.pos, memory, memory_pos, num_ptrs)

    def _finish(self, head: HeadOutput, memory: Tensor | None, index: int) -> FrameOutput:
        """One object's stored output from batch row ``index``."""
        low = head.low_res[index : index + 1]
        if self.opts.fill_hole_area > 0:
            from samstream.image.postprocess import fill_holes

            low = fill_holes(low, self.opts.fill_hole_area)
        mem = None
        if memory is not None:
            mem = memory[index : index + 1].to(self.opts.memory_dtype).to(self.storage)
        return FrameOutput(
            low_res_logits=low.to(self.storage),
            obj_ptr=head.obj_ptr[index : index + 1],
            object_score=head.object_score_logits[index : index + 1],
            memory=mem,
            memory_pos=self.memory_pos if mem is not None else None,
        )

    def _encode(self, feats: ImageFeatures, high_res_masks: Tensor, scores: Tensor, binarize: bool) -> Tensor:
        memory, pos = self.model.encode_memory(feats.embed, high_res_masks, scores, binarize)
        if self.memory_pos is None:
            self.memory_pos = pos.to(self.storage)
        return memory

    def _upsample(self, low: Tensor) -> Tensor:
        size = self.model.image_size
        return F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)

    def prompt(
        self,
        track: ObjectTrack,
        frame: int,
        points: PointPrompt | None,
        mask: Tensor | None,
        is_init: bool,
        reverse: bool,
        prev_logits: Tensor | None,
    ) -> FrameOutput:
        """One object's output on a prompted frame (no memory is encoded yet)."""
        feats = self.features(frame)
        tracking = self.model.cfg.tracking
        if mask is not None and tracking.use_mask_input_as_output_without_sam:
            head = self.model.mask_as_output(feats.embed, feats.high_res, mask.to(self.device))
            return self._finish(head, None, 0)
        if is_init:
            pix = self.model.no_memory_features(feats.embed, 1)
        else:
            plan = plan_memory(track, frame, self.model.cfg.memory, self.state.num_frames, reverse)
            pix = self._conditioned(feats, [plan])
        pts = (points.coords.to(self.device), points.labels.to(self.device)) if points is not None else None
        mask_in = mask.to(self.device) if mask is not None else None
        if prev_logits is not None:
            mask_in = prev_logits.to(self.device).clamp(-32.0, 32.0)
        num_points = 0 if points is None else points.labels.shape[1]
        head = self.model.heads(pix, feats.high_res, pts, mask_in, self._use_multimask(is_init, num_points))
        return self._finish(head, None, 0)

    def commit(self, frame: int, out: FrameOutput) -> None:
        """Encode the memory of a prompted output (clicked masks are binarised)."""
        if out.memory is not None:
            return
        feats = self.features(frame)
        high = self._upsample(out.low_res_logits.to(self.device))
        memory = self._encode(feats, high, out.object_score.to(self.device), self.opts.binarize_mask_from_pts)
        out.memory = memory.to(self.opts.memory_dtype).to(self.storage)
        out.memory_pos = self.memory_pos

    def track(self, tracks: list[ObjectTrack], frame: int, reverse: bool) -> list[FrameOutput]:
        """Outputs of objects on a frame they have no prompt on, memories included."""
        if not tracks:
            return []
        feats = self.features(frame)
        cfg = self.model.cfg.memory
        plans = [plan_memory(t, frame, cfg, self.state.num_frames, reverse) for t in tracks]
        groups: dict[tuple, list[int]] = {}
        for i, plan in enumerate(plans):
            key = plan.key if self.opts.batch_objects else (i,)
            groups.setdefault(key, []).append(i)
        results: list[FrameOutput | None] = [None] * len(tracks)
        multimask = self._use_multimask(False, 0)
        # decoder and memory encoder: objects in the memory attention's chunks (one at a time on a
        # CPU, where a batch's activations leave the caches and save no arithmetic; all elsewhere)
        chunk = self.model.memory_attention.chunk_size(self.device, len(tracks))
        for rows in groups.values():
            pix = self._conditioned(feats, [plans[i] for i in rows])  # (B, C, h, w)
            for start in range(0, len(rows), chunk):
                part = rows[start : start + chunk]
                head = self.model.heads(pix[start : start + chunk], feats.high_res, None, None, multimask)
                memory = self._encode(feats, self._upsample(head.low_res), head.object_score_logits,
                                      binarize=False)
                for j, i in enumerate(part):
                    results[i] = self._finish(head, memory, j)
        return results  # type: ignore[return-value]

    # ---------------------------------------------------------------- output
    def video_logits(self, lows: list[Tensor | None]) -> Tensor:
        """Per-object low-res logits (None: no output) -> (N, 1, H, W) logits at video resolution."""
        h, w = self.state.video_hw
        out = torch.full((len(lows), 1, h, w), NO_OBJECT_SCORE, device=self.device)
        present = [i for i, low in enumerate(lows) if low is not None]
        if present:
            stacked = torch.cat([lows[i].to(self.device) for i in present], dim=0)  # type: ignore[union-attr]
            out[present] = F.interpolate(stacked, size=(h, w), mode="bilinear", align_corners=False)
        if self.opts.non_overlap_masks:
            out = non_overlapping(out)
        return out


def non_overlapping(logits: Tensor) -> Tensor:
    """Keep each pixel only for the highest-scoring object; others are clamped to at most -10."""
    if logits.shape[0] <= 1:
        return logits
    winner = logits.argmax(dim=0, keepdim=True)
    rows = torch.arange(logits.shape[0], device=logits.device)[:, None, None, None]
    return torch.where(winner == rows, logits, logits.clamp(max=-10.0))
