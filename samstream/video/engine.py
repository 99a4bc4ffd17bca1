"""Runs the model on video frames for the objects of a session.

The engine owns the per-frame feature cache and the model calls; the session state
(:mod:`samstream.video.state`) owns what is remembered. Objects whose memories have the same
layout on a frame form a group; the frame's image features, and the first memory-attention steps,
are computed once for all. A group then runs as one batch on a GPU and one object at a time on a
CPU (see :mod:`samstream.model.memory_attention`).

Which memories an object reads, which candidate mask it takes and which hypotheses it keeps are the
session's tracking method's choices (:mod:`samstream.video.methods`): the engine asks it on every
step and runs the model for whatever it planned, in this one loop for every method. A hypothesis is
a row: SAM2Long's pathways are several rows of one object, batched like objects.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from samstream.config import TrackingConfig
from samstream.errors import InvalidInputError
from samstream.image.postprocess import fill_holes
from samstream.model.sam2 import NO_OBJECT_SCORE, Candidates, HeadOutput, ImageFeatures, MemoryTokens, SAM2Model
from samstream.video.memory_bank import MemoryPlan
from samstream.video.methods import TrackingMethod, resolve_method
from samstream.video.methods.base import Choice, RowCandidates, Step, StepContext
from samstream.video.options import VideoOptions
from samstream.video.frame_outputs import FrameOutput
from samstream.video.state import ObjectTrack, PointPrompt, SessionState


@dataclass
class EngineCounts:
    """Model work a session has done (counted, so that tests and benchmarks can bound it)."""

    images_encoded: int = 0  # frames run through the image encoder
    frames_tracked: int = 0  # object-frames tracked with memory (one per object per frame)
    prompts_decoded: int = 0  # prompt outputs (a click, a box or a mask on a frame)
    memories_encoded: int = 0  # memories made from prompt outputs at commit


def session_policy(options: VideoOptions, default: TrackingConfig) -> TrackingConfig:
    """The tracking policy a session runs: ``options.tracking`` (or ``default``, the model's) with
    ``options.max_cond_frames_in_attn`` applied when it is set."""
    policy = options.tracking if options.tracking is not None else default
    limit = options.max_cond_frames_in_attn
    if limit is None:
        return policy
    if isinstance(limit, bool) or not isinstance(limit, int) or not (limit == -1 or limit >= 2):
        raise InvalidInputError(f"max_cond_frames_in_attn: expected -1 (all), an integer >= 2 or None, got {limit!r}")
    return replace(policy, max_cond_frames_in_attn=limit)


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
        self._read_frame = frame_tensor  # frame index -> (3, S, S) preprocessed frame
        self.state = state
        self.device = model.device
        self.storage = torch.device("cpu") if options.offload_state_to_cpu else self.device
        self.policy = model.cfg.tracking
        self.method: TrackingMethod = resolve_method("sam2", model.cfg)
        self.set_options(options)
        self._features: OrderedDict[int, ImageFeatures] = OrderedDict()
        self.counts = EngineCounts()

    def set_options(self, options: VideoOptions) -> None:
        """Options for the next steps (where state is stored stays as it was chosen at the start).

        The tracking method may fix some of them as its authors do (its settings object says which)."""
        self.method = resolve_method(options.method, self.model.cfg)
        self.policy = self.method.tracking(session_policy(options, self.model.cfg.tracking))
        self.opts = replace(options, **self.method.options())

    def context(self) -> StepContext:
        """What the method may consult on a step."""
        cfg = self.model.cfg
        return StepContext(cfg.memory, self.policy, self.state.num_frames, cfg.image_size, self.state.video_hw)

    # -------------------------------------------------------------- features
    @property
    def frame_source(self) -> Callable[[int], Tensor]:
        """Where frames are read now: frame index -> (3, S, S) preprocessed frame."""
        return self._read_frame

    @contextlib.contextmanager
    def reading_from(self, source: Callable[[int], Tensor]) -> Iterator[None]:
        """Inside, frames are read from ``source`` (a read-ahead over the usual source, say); the
        previous source is back when the block ends, early or by an error."""
        previous, self._read_frame = self._read_frame, source
        try:
            yield
        finally:
            self._read_frame = previous

    def features(self, frame: int) -> ImageFeatures:
        feats = self._features.get(frame)
        if feats is None:
            # inference mode here, not only in the tracker's verbs: a session encodes its first frame
            # before any prompt, and the model's inference kernels (in-place, chunked) refuse autograd
            with torch.inference_mode():
                image = self._read_frame(frame).to(self.device, torch.float32).unsqueeze(0)
                feats = self.model.encode_image(image)
            self.counts.images_encoded += 1
            self._features[frame] = feats
            while len(self._features) > max(1, self.opts.feature_cache_size):
                self._features.popitem(last=False)
        else:
            self._features.move_to_end(frame)
        return feats

    def clear_cache(self) -> None:
        self._features.clear()

    def num_cached_features(self) -> int:
        """Frames whose image features are cached."""
        return len(self._features)

    def has_features(self, frame: int) -> bool:
        return frame in self._features

    def cache_nbytes(self) -> int:
        """Bytes of the cached image features."""
        return sum(t.numel() * t.element_size() for f in self._features.values()
                   for t in (f.embed, f.pos, *f.high_res))

    # ----------------------------------------------------------------- steps
    def _conditioned(self, feats: ImageFeatures, plans: list[MemoryPlan[FrameOutput]]) -> Tensor:
        mem = plan_tokens(self.model, plans, feats.embed.dtype)
        if mem.key_scale is None:
            return self.model.condition_on_memory(feats.embed, feats.pos, mem.tokens, mem.pos, mem.num_ptr_tokens)
        return self.model.condition_on_memory(feats.embed, feats.pos, mem.tokens, mem.pos, mem.num_ptr_tokens,
                                              key_scale=mem.key_scale)

    def output_of(self, head: HeadOutput, memory: Tensor | None, index: int) -> FrameOutput:
        """One object's stored output from batch row ``index``."""
        low = head.low_res[index : index + 1]
        if self.opts.fill_hole_area > 0:
            low = fill_holes(low, self.opts.fill_hole_area)
        mem = None
        if memory is not None:
            mem = memory[index : index + 1].to(self.opts.memory_dtype).to(self.storage)
        return FrameOutput(
            low_res_logits=low.to(self.storage),
            obj_ptr=head.obj_ptr[index : index + 1],
            object_score=head.object_score_logits[index : index + 1],
            memory=mem,
        )

    def _encode(self, feats: ImageFeatures, high_res_masks: Tensor, scores: Tensor, binarize: bool) -> Tensor:
        return self.model.encode_memory(feats.embed, high_res_masks, scores, binarize)

    def _upsample(self, low: Tensor) -> Tensor:
        size = self.model.image_size
        return F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)

    def _candidates(self, pix: Tensor, feats: ImageFeatures, points: tuple[Tensor, Tensor] | None,
                    mask_in: Tensor | None, multimask: bool) -> Candidates:
        return self.model.candidates(pix, feats.high_res, points, mask_in, multimask, self.method.presence_threshold,
                                     self.method.dynamic_stability)

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
        self.counts.prompts_decoded += 1
        ctx = self.context()
        if mask is not None and self.policy.use_mask_input_as_output_without_sam:
            head = self.model.mask_as_output(feats.embed, feats.high_res, mask.to(self.device),
                                             self.method.presence_threshold)
            out = self.output_of(head, None, 0)
            return replace(out, record=self.method.prompt_record(track, frame, reverse, out, None, ctx))
        if is_init:
            pix = self.model.no_memory_features(feats.embed, 1)
        else:
            pix = self._conditioned(feats, [self.method.prompt_plan(track, frame, reverse, ctx)])
        pts = (points.coords.to(self.device), points.labels.to(self.device)) if points is not None else None
        mask_in = mask.to(self.device) if mask is not None else None
        if prev_logits is not None:
            mask_in = prev_logits.to(self.device).clamp(-32.0, 32.0)
        num_points = 0 if points is None else points.labels.shape[1]
        multimask = self.policy.multimask(is_init, num_points)
        cands = self._candidates(pix, feats, pts, mask_in, multimask)
        choice = self.method.choose_prompt(track, frame, reverse, _rows(cands, [0], multimask), ctx)
        out = self.output_of(self._pick(cands, [choice.picks[0]]), None, 0)
        return replace(out, record=self.method.prompt_record(track, frame, reverse, out, choice, ctx))

    def box_mask(self, frame: int, points: PointPrompt) -> Tensor:
        """A box's mask from the decoder alone (no memory, one output), at video resolution: (H, W) bool."""
        feats = self.features(frame)
        self.counts.prompts_decoded += 1
        pix = self.model.no_memory_features(feats.embed, 1)
        pts = (points.coords.to(self.device), points.labels.to(self.device))
        low, _, _, _ = self.model.decode(pix, feats.high_res, pts, None, False, self.method.dynamic_stability)
        high = F.interpolate(low, size=self.state.video_hw, mode="bilinear", align_corners=False)
        return (high[0, 0] > 0).cpu()

    def _pick(self, cands: Candidates, picks: list[tuple[int, int | None]]) -> HeadOutput:
        """The chosen candidates of rows of ``cands``: SAM 2's one per row in order runs exactly as it always did."""
        rows = [r for r, _ in picks]
        index = [k for _, k in picks]
        in_order = rows == list(range(cands.low_res_multi.shape[0]))
        if any(k is None for k in index):
            if not all(k is None for k in index):
                raise ValueError("a step mixes single-output and multi-output rows")
            return self.model.pick(cands, None, None if in_order else torch.tensor(rows, device=self.device))
        chosen = torch.tensor(index, device=self.device)
        return self.model.pick(cands, chosen, None if in_order else torch.tensor(rows, device=self.device))

    def commit(self, frame: int, out: FrameOutput) -> None:
        """Encode the memory of a prompted output (clicked masks are binarised)."""
        if out.memory is not None:
            return
        feats = self.features(frame)
        high = self._upsample(out.low_res_logits.to(self.device))
        memory = self._encode(feats, high, out.object_score.to(self.device), self.opts.binarize_mask_from_pts)
        out.memory = memory.to(self.opts.memory_dtype).to(self.storage)
        self.counts.memories_encoded += 1

    def track(self, tracks: list[ObjectTrack], frame: int, reverse: bool) -> list[Step]:
        """Steps of objects on a frame they have no prompt on: each object's output, memories included.

        Every object's method plans one or more hypotheses (rows); rows whose memories have the same
        layout run as one group. The method then chooses among all candidates of its rows, and the
        chosen ones get their pointers and memories in the batches their rows were decoded in."""
        if not tracks:
            return []
        feats = self.features(frame)
        self.counts.frames_tracked += len(tracks)
        ctx, method = self.context(), self.method
        rows: list[tuple[int, MemoryPlan[FrameOutput]]] = [
            (i, plan) for i, track in enumerate(tracks) for plan in method.plan(track, frame, reverse, ctx)]
        groups: dict[tuple, list[int]] = {}
        for r, (i, plan) in enumerate(rows):
            key = plan.key if self.opts.batch_objects else (i, r)
            groups.setdefault(key, []).append(r)
        multimask = self.policy.multimask(False, 0)
        # decoder and memory encoder: rows in the memory attention's chunks (one at a time on a
        # CPU, where a batch's activations leave the caches and save no arithmetic; all elsewhere)
        chunk = self.model.memory_attention.objects_per_batch(len(rows))
        batches: list[tuple[list[int], Candidates]] = []  # (rows, their candidates)
        where: dict[int, tuple[int, int]] = {}  # row -> (batch, position in it)
        for members in groups.values():
            pix = self._conditioned(feats, [rows[r][1] for r in members])  # (B, C, h, w)
            for start in range(0, len(members), chunk):
                part = members[start : start + chunk]
                cands = self._candidates(pix[start : start + chunk], feats, None, None, multimask)
                for j, r in enumerate(part):
                    where[r] = (len(batches), j)
                batches.append((part, cands))
        track_rows: list[list[int]] = [[] for _ in tracks]
        for r, (i, _) in enumerate(rows):
            track_rows[i].append(r)
        choices = [method.choose(track, frame, reverse, _gather(batches, where, track_rows[i], multimask), ctx)
                   for i, track in enumerate(tracks)]
        outputs = self._chosen_outputs(feats, batches, where, track_rows, choices)
        return [method.finish(track, frame, reverse, choices[i], outputs[i], ctx) for i, track in enumerate(tracks)]

    def _chosen_outputs(self, feats: ImageFeatures, batches: list[tuple[list[int], Candidates]],
                        where: dict[int, tuple[int, int]], track_rows: list[list[int]], choices: list[Choice]
                        ) -> list[list[FrameOutput]]:
        """Per object, the outputs of its choice's picks (pointers and memories made batch by batch)."""
        wanted: dict[tuple[int, bool], list[tuple[int, int, int, int | None]]] = {}  # (batch, binarise) -> picks
        for i, choice in enumerate(choices):
            for n, (row, cand) in enumerate(choice.picks):
                b, j = where[track_rows[i][row]]
                wanted.setdefault((b, choice.as_cond), []).append((i, n, j, cand))
        outputs: list[list[Any]] = [[None] * len(c.picks) for c in choices]
        for (b, binarize), picks in sorted(wanted.items()):
            head = self._pick(batches[b][1], [(j, cand) for _, _, j, cand in picks])
            memory = self._encode(feats, self._upsample(head.low_res), head.object_score_logits, binarize=binarize)
            for k, (i, n, _, _) in enumerate(picks):
                outputs[i][n] = self.output_of(head, memory, k)
        return outputs

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


def plan_tokens(model: SAM2Model, plans: list[MemoryPlan[FrameOutput]], dtype: torch.dtype) -> MemoryTokens:
    """Memory tokens of a batch of plans with one layout key (row b of the batch: plans[b]).

    Each output may itself hold a batch (training tracks all objects of a clip as one): the rows
    of ``plans[0]`` come first.
    """
    first = plans[0]
    memories = [torch.cat([p.frames[j][1].memory for p in plans], dim=0)  # type: ignore[misc]
                for j in range(len(first.frames))]  # each (B, mem_dim, h, w)
    ptrs = None
    if first.ptrs:
        ptrs = torch.stack([torch.cat([p.ptrs[j][1].obj_ptr for p in plans], dim=0)
                            for j in range(len(first.ptrs))], dim=0)  # (P, B, C)
    frame_w = ptr_w = None
    if first.frame_weights is not None or first.ptr_weights is not None:  # (F, B) and (P, B)
        frame_w = torch.tensor([p.frame_weights or [1.0] * len(p.frames) for p in plans], dtype=torch.float32).T
        ptr_w = torch.tensor([p.ptr_weights or [1.0] * len(p.ptrs) for p in plans], dtype=torch.float32).T
    return model.memory_tokens(memories, first.slots, ptrs, first.distances, first.max_ptrs, dtype, frame_w, ptr_w)


def non_overlapping(logits: Tensor) -> Tensor:
    """Keep each pixel only for the highest-scoring object; others are clamped to at most -10."""
    if logits.shape[0] <= 1:
        return logits
    winner = logits.argmax(dim=0, keepdim=True)
    rows = torch.arange(logits.shape[0], device=logits.device)[:, None, None, None]
    return torch.where(winner == rows, logits, logits.clamp(max=-10.0))


def _rows(cands: Candidates, rows: list[int], multimask: bool) -> RowCandidates:
    """Some rows of one decoded batch, as a method sees them."""
    index = torch.tensor(rows, device=cands.ious.device)
    return RowCandidates(cands.low_res_multi[index], cands.ious[index], cands.object_score_logits[index], multimask)


def _gather(batches: list[tuple[list[int], Candidates]], where: dict[int, tuple[int, int]], rows: list[int],
            multimask: bool) -> RowCandidates:
    """One object's rows, wherever they were decoded, in its own order."""
    parts = [_rows(batches[where[r][0]][1], [where[r][1]], multimask) for r in rows]
    if len(parts) == 1:
        return parts[0]
    return RowCandidates(torch.cat([p.low_res for p in parts]), torch.cat([p.ious for p in parts]),
                         torch.cat([p.object_scores for p in parts]), multimask)
