"""Options of the video predictor.

Defaults equal the official video predictor builder's but for corrections: here a prompt on a frame
an object was already tracked through becomes a prompted (conditioning) frame of that object
(``add_all_frames_to_correct_as_cond=True``), so every later propagation keeps it and tracks on from
it; each tracked frame then attends to at most ``max_cond_frames_in_attn`` prompted frames (the
nearest before it, the nearest after it, then the closest others), so that many corrections do not
make tracking slower without bound. :mod:`samstream.compat` keeps the official defaults (a
correction stays a tracked frame that the next propagation replaces; every prompted frame attended).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch

from samstream.config import TrackingConfig
from samstream.video.methods.base import MethodSettings, check_method


@dataclass(frozen=True)
class VideoOptions:
    fill_hole_area: int = 8  # fill background holes up to this many low-res pixels in output masks
    non_overlap_masks: bool = False  # each pixel goes to at most one object in the outputs
    clear_non_cond_mem_around_input: bool = False  # drop tracked memories near a prompted frame
    add_all_frames_to_correct_as_cond: bool = True  # corrections stick: a corrected frame becomes a prompted frame
    binarize_mask_from_pts: bool = True  # memories of clicked frames use the mask the user saw
    offload_video_to_cpu: bool = False  # keep preprocessed frames on the CPU
    offload_state_to_cpu: bool = False  # keep per-frame outputs and memories on the CPU
    memory_dtype: torch.dtype = torch.bfloat16  # storage type of memory features
    batch_objects: bool = True  # run objects with the same memory layout as one batch
    frame_cache_size: int = 4  # preprocessed frames kept in memory
    feature_cache_size: int = 2  # frames whose image features are kept
    max_outputs_in_memory: int | None = None  # per object; older tracked outputs spill to disk (long videos)
    spill_dir: str | None = None  # parent folder of the spill files (default: the system's temp folder)
    tracking: TrackingConfig | None = None  # tracking policy of the session (None: the model's cfg.tracking)
    max_cond_frames_in_attn: int | None = 4  # prompted frames a tracked frame attends to (-1: all; None: the policy's)
    prefetch_frames: int = 0  # propagation decodes and preprocesses up to this many frames ahead on a thread (0: on demand)
    strict_prompts: bool = True  # reject clicks outside the frame and labels other than 0/1 (False: as the official predictor)
    # the tracking method: "sam2", "samurai", "dam4sam", "sam2long" (the authors' settings for the model's
    # size) or a settings object (SamuraiConfig, ...); see samstream.video.methods
    method: str | MethodSettings = "sam2"

    def __post_init__(self) -> None:
        check_method(self.method)

    def as_kwargs(self) -> dict[str, Any]:
        """Every option by name (for ``VideoPredictor(model, **options.as_kwargs())``)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
