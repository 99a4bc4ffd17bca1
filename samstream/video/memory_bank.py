"""Which memories an object attends to on a frame (the model turns them into tokens).

For a frame ``t`` an object attends to

- its conditioning (prompted) frames, all of them or the ``max_cond_frames_in_attn`` closest;
- up to ``num_maskmem - 1`` recent tracked frames (the one just before ``t``, then every
  ``stride``-th frame), at temporal slots 1 .. num_maskmem - 1;
- object pointers of prompted frames (only those not in the future, by default) and of the
  ``max_obj_ptrs_in_encoder - 1`` nearest tracked frames, each tagged with its temporal distance.

A :class:`MemoryPlan` records these choices; objects whose plans have the same layout key can be
stacked into one batch, since their memories have the same shapes and temporal encodings. The
tokens themselves are made by :meth:`samstream.model.sam2.SAM2Model.memory_tokens`.

This module is plain Python over any kind of per-frame output (it never touches a tensor), so
a host without torch (the ONNX runtime host) plans its memories with the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from samstream.config import MemoryConfig, TrackingConfig

Out = TypeVar("Out")


class MemorySource(Protocol[Out]):
    """What a plan reads from a track: its conditioning outputs and its tracked outputs."""

    def conditioning(self) -> Mapping[int, Out]:
        """frame -> output of every committed conditioning (prompted) frame."""
        ...

    def tracked_output(self, frame: int) -> Out | None:
        """The committed output of a tracked (non-conditioning) frame, or None."""
        ...


@dataclass
class MemoryPlan(Generic[Out]):
    frames: list[tuple[int, Out]]  # (temporal slot, output); slot 0 = conditioning frame
    ptrs: list[tuple[int, Out]]  # (temporal distance, output)
    max_ptrs: int  # min(num_frames, max_obj_ptrs_in_encoder), the distance normaliser + 1
    # weights of each memory frame's and each pointer's cross-attention keys (None: all 1, as SAM 2;
    # SAM2Long trusts memories with higher object scores more)
    frame_weights: list[float] | None = None
    ptr_weights: list[float] | None = None

    @property
    def key(self) -> tuple:
        """Plans with equal keys have memories of the same layout (they can run as one batch)."""
        weighted = self.frame_weights is not None or self.ptr_weights is not None
        return tuple(t for t, _ in self.frames), tuple(p for p, _ in self.ptrs), self.max_ptrs, weighted

    @property
    def slots(self) -> list[int]:
        return [t for t, _ in self.frames]

    @property
    def distances(self) -> list[int]:
        return [d for d, _ in self.ptrs]


def closest_cond_frames(frame: int, cond: Mapping[int, Out], limit: int) -> tuple[dict[int, Out], dict[int, Out]]:
    """Split conditioning frames into those attended to and the rest (``limit`` -1: all attended)."""
    if limit == -1 or len(cond) <= limit:
        return dict(cond), {}
    if limit < 2:
        raise ValueError("max_cond_frames_in_attn must be -1 or at least 2")
    chosen: dict[int, Out] = {}
    before = max((t for t in cond if t < frame), default=None)
    if before is not None:
        chosen[before] = cond[before]
    after = min((t for t in cond if t >= frame), default=None)
    if after is not None:
        chosen[after] = cond[after]
    rest = sorted((t for t in cond if t not in chosen), key=lambda t: abs(t - frame))
    for t in rest[: limit - len(chosen)]:
        chosen[t] = cond[t]
    return chosen, {t: v for t, v in cond.items() if t not in chosen}


def clear_reach(cfg: MemoryConfig, policy: TrackingConfig) -> int:
    """How far (in frames) a new prompt outdates tracked memories, when they are cleared around it."""
    return policy.memory_temporal_stride_for_eval * cfg.num_maskmem


def memory_frame(frame: int, t_rel: int, stride: int, reverse: bool) -> int:
    """Index of the frame held in memory slot ``t_rel`` frames back (in tracking direction)."""
    if t_rel == 1:
        return frame + 1 if reverse else frame - 1
    if reverse:
        base = -(-(frame + 2) // stride) * stride
        return base + (t_rel - 2) * stride
    base = ((frame - 2) // stride) * stride
    return base - (t_rel - 2) * stride


def pointer_normaliser(cfg: MemoryConfig, num_frames: int | None) -> int:
    """``max_ptrs`` of a plan: pointers' distances are divided by it minus one.

    A video shorter than ``max_obj_ptrs_in_encoder`` frames normalises by its length; a stream
    (``num_frames`` None, its length unknown) exactly as a video of at least that many frames.
    """
    limit = cfg.max_obj_ptrs_in_encoder
    return limit if num_frames is None else min(num_frames, limit)


def plan_memory(
    source: MemorySource[Out],
    frame: int,
    cfg: MemoryConfig,
    policy: TrackingConfig,
    num_frames: int | None,
    reverse: bool,
) -> MemoryPlan[Out]:
    """The memories ``source`` attends to on ``frame`` (a frame with no prompt of its own).

    ``cfg``: the model's memory layout; ``policy``: the session's choices (how many conditioning
    frames, the memory stride, pointers of future prompts). ``num_frames`` None: a stream of
    unknown length (no frame lies beyond its end).
    """
    chosen, others = closest_cond_frames(frame, source.conditioning(), policy.max_cond_frames_in_attn)
    frames: list[tuple[int, Out]] = [(0, out) for out in chosen.values()]
    stride = policy.memory_temporal_stride_for_eval
    for slot in range(1, cfg.num_maskmem):
        t = memory_frame(frame, cfg.num_maskmem - slot, stride, reverse)
        out = source.tracked_output(t)
        if out is None:
            out = others.get(t)
        if out is not None:
            frames.append((slot, out))

    max_ptrs = pointer_normaliser(cfg, num_frames)
    if policy.only_obj_ptrs_in_the_past_for_eval:
        ptr_cond = {t: o for t, o in chosen.items() if (t >= frame if reverse else t <= frame)}
    else:
        ptr_cond = chosen
    sign = -1 if reverse else 1
    ptrs = [((frame - t) * sign if cfg.use_signed_tpos_enc_to_obj_ptrs else abs(frame - t), o)
            for t, o in ptr_cond.items()]
    for dist in range(1, max_ptrs):
        t = frame + dist if reverse else frame - dist
        if t < 0 or (num_frames is not None and t >= num_frames):
            break
        out = source.tracked_output(t)
        if out is None:
            out = others.get(t)
        if out is not None:
            ptrs.append((dist, out))
    return MemoryPlan(frames, ptrs, max_ptrs)


def attendable_frames(frame: int, cfg: MemoryConfig, policy: TrackingConfig) -> tuple[set[int], set[int]]:
    """Tracked frames that forward tracking of ``frame`` or any later frame can still read.

    Returns (memory frames, pointer frames): the memory window of ``frame`` (whose masks and
    memories are read) and the frames whose object pointers are still within reach.
    """
    stride = policy.memory_temporal_stride_for_eval
    memory = {memory_frame(frame, t, stride, False) for t in range(1, cfg.num_maskmem)}
    pointers = set(range(frame - cfg.max_obj_ptrs_in_encoder + 1, frame))
    return memory, pointers
