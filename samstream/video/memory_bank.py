"""Which memories an object attends to on a frame, and how they are stacked for attention.

For a frame ``t`` an object attends to

- its conditioning (prompted) frames, all of them or the ``max_cond_frames_in_attn`` closest;
- up to ``num_maskmem - 1`` recent tracked frames (the one just before ``t``, then every
  ``stride``-th frame), at temporal slots 1 .. num_maskmem - 1;
- object pointers of prompted frames (only those not in the future, by default) and of the
  ``max_obj_ptrs_in_encoder - 1`` nearest tracked frames, each tagged with its temporal distance.

A :class:`MemoryPlan` records these choices; objects whose plans have the same layout key can be
stacked into one batch, since their memories have the same shapes and temporal encodings.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from samstream.config import MemoryConfig
from samstream.model.position import sine_1d
from samstream.video.state import FrameOutput, ObjectTrack


@dataclass
class MemoryPlan:
    frames: list[tuple[int, FrameOutput]]  # (temporal slot, output); slot 0 = conditioning frame
    ptrs: list[tuple[int, FrameOutput]]  # (temporal distance, output)
    max_ptrs: int  # min(num_frames, max_obj_ptrs_in_encoder), the distance normaliser + 1

    @property
    def key(self) -> tuple:
        return tuple(t for t, _ in self.frames), tuple(p for p, _ in self.ptrs), self.max_ptrs


def closest_cond_frames(frame: int, cond: dict[int, FrameOutput], limit: int) -> tuple[dict, dict]:
    """Split conditioning frames into those attended to and the rest (``limit`` -1: all attended)."""
    if limit == -1 or len(cond) <= limit:
        return cond, {}
    if limit < 2:
        raise ValueError("max_cond_frames_in_attn must be -1 or at least 2")
    chosen: dict[int, FrameOutput] = {}
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


def _recent_frame(frame: int, t_rel: int, stride: int, reverse: bool) -> int:
    """Index of the frame held in memory slot ``t_rel`` frames back (in tracking direction)."""
    if t_rel == 1:
        return frame + 1 if reverse else frame - 1
    if reverse:
        base = -(-(frame + 2) // stride) * stride
        return base + (t_rel - 2) * stride
    base = ((frame - 2) // stride) * stride
    return base - (t_rel - 2) * stride


def plan_memory(track: ObjectTrack, frame: int, cfg: MemoryConfig, num_frames: int, reverse: bool) -> MemoryPlan:
    """The memories ``track`` attends to on ``frame`` (a frame with no prompt of its own)."""
    chosen, others = closest_cond_frames(frame, track.cond, cfg.max_cond_frames_in_attn)
    frames: list[tuple[int, FrameOutput]] = [(0, out) for out in chosen.values()]
    stride = cfg.memory_temporal_stride_for_eval
    for slot in range(1, cfg.num_maskmem):
        t = _recent_frame(frame, cfg.num_maskmem - slot, stride, reverse)
        out = track.non_cond.get(t)
        if out is None:
            out = others.get(t)
        if out is not None:
            frames.append((slot, out))

    max_ptrs = min(num_frames, cfg.max_obj_ptrs_in_encoder)
    if cfg.only_obj_ptrs_in_the_past_for_eval:
        ptr_cond = {t: o for t, o in chosen.items() if (t >= frame if reverse else t <= frame)}
    else:
        ptr_cond = chosen
    sign = -1 if reverse else 1
    ptrs = [((frame - t) * sign if cfg.use_signed_tpos_enc_to_obj_ptrs else abs(frame - t), o)
            for t, o in ptr_cond.items()]
    for dist in range(1, max_ptrs):
        t = frame + dist if reverse else frame - dist
        if t < 0 or t >= num_frames:
            break
        out = track.non_cond.get(t, others.get(t))
        if out is not None:
            ptrs.append((dist, out))
    return MemoryPlan(frames, ptrs, max_ptrs)


def stack_memory(
    plans: list[MemoryPlan],
    memory_pos: Tensor,
    tpos_enc: Tensor,
    ptr_tpos_proj: torch.nn.Module,
    cfg: MemoryConfig,
    hidden_dim: int,
    device: torch.device,
    dtype: torch.dtype,
) -> tuple[Tensor, Tensor, int]:
    """Memory tokens (M, B, mem_dim), their position encodings and the number of pointer tokens.

    All plans must share one layout key. ``memory_pos``: (1, mem_dim, h, w); ``tpos_enc``:
    (num_maskmem, 1, 1, mem_dim) learned temporal encodings.
    """
    batch = len(plans)
    first = plans[0]
    mem_dim = memory_pos.shape[1]
    pos_tokens = memory_pos.to(device).flatten(2).permute(2, 0, 1)  # (hw, 1, mem_dim)
    tokens, token_pos = [], []
    for j, (slot, _) in enumerate(first.frames):
        feats = torch.cat([p.frames[j][1].memory for p in plans], dim=0)  # (B, mem_dim, h, w)
        tokens.append(feats.to(device=device, dtype=dtype).flatten(2).permute(2, 0, 1))  # (hw, B, mem_dim)
        enc = pos_tokens + tpos_enc[cfg.num_maskmem - slot - 1]
        token_pos.append(enc.expand(-1, batch, -1))
    num_ptr_tokens = 0
    if first.ptrs:
        ptrs = torch.stack(
            [torch.cat([p.ptrs[j][1].obj_ptr for p in plans], dim=0) for j in range(len(first.ptrs))], dim=0
        ).to(device=device, dtype=dtype)  # (P, B, C)
        if cfg.add_tpos_enc_to_obj_ptrs:
            dists = torch.tensor([d for d, _ in first.ptrs], device=device)
            tpos_dim = hidden_dim if cfg.proj_tpos_enc_in_obj_ptrs else mem_dim
            ptr_pos = ptr_tpos_proj(sine_1d(dists / (first.max_ptrs - 1), tpos_dim))
            ptr_pos = ptr_pos.unsqueeze(1).expand(-1, batch, mem_dim)
        else:
            ptr_pos = ptrs.new_zeros(len(first.ptrs), batch, mem_dim)
        if mem_dim < hidden_dim:  # each pointer becomes hidden_dim / mem_dim tokens
            split = hidden_dim // mem_dim
            ptrs = ptrs.reshape(-1, batch, split, mem_dim).permute(0, 2, 1, 3).flatten(0, 1)
            ptr_pos = ptr_pos.repeat_interleave(split, dim=0)
        tokens.append(ptrs)
        token_pos.append(ptr_pos)
        num_ptr_tokens = ptrs.shape[0]
    return torch.cat(tokens, dim=0), torch.cat(token_pos, dim=0), num_ptr_tokens
