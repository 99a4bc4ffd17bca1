"""Image prompts (points, labels, boxes, mask inputs) as tensors at model input scale.

The rules themselves (what is accepted, the messages, the scaling) are :mod:`samstream.prompt_rules`,
shared with the onnxruntime host; this module only puts their result on the model's device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from samstream.prompt_rules import (LOW_RES_DESCRIPTION, MAX_OBJ_ID, check_mask_batch, check_obj_id,
                                    check_prompt_given, low_res_mask, point_prompts)

__all__ = ["LOW_RES_DESCRIPTION", "MAX_OBJ_ID", "ModelPrompts", "check_obj_id", "prepare_prompts"]


@dataclass
class ModelPrompts:
    """Prompts at model input scale, batched over prompt sets (B)."""

    coords: Tensor | None  # (B, N, 2) float32 pixel coordinates at model input scale; boxes first
    labels: Tensor | None  # (B, N) int32
    mask: Tensor | None  # (B, 1, S/4, S/4) float32 logits
    batched: bool  # whether the caller gave a batch axis

    @property
    def batch_size(self) -> int:
        """The number of prompt sets, B."""
        if self.coords is not None:
            return self.coords.shape[0]
        assert self.mask is not None
        return self.mask.shape[0]


def prepare_prompts(
    points: Any,
    labels: Any,
    box: Any,
    mask: Any,
    image_hw: tuple[int, int],
    model_size: int,
    device: torch.device,
    normalize_coords: bool = True,
    strict: bool = True,
) -> ModelPrompts:
    """Check user prompts and bring them to model input scale on ``device``.

    Args:
        points, labels, box: as :func:`samstream.prompt_rules.point_prompts` takes them (either may be None).
        mask: a previous prediction's low-resolution logits, or None.
        image_hw: (H, W) of the original image.
        model_size: the model's square input size.
        device: where the tensors go.
        normalize_coords: coordinates are pixels of the original image (True) or fractions in [0, 1].
        strict: the native API's rules; False takes what the official API takes (compat).

    Returns:
        The prompts; a single mask input is expanded over several prompt sets.

    Raises:
        PromptError: no prompt at all, or one that breaks a rule of :mod:`samstream.prompt_rules`.
    """
    check_prompt_given(points, box, mask)
    coords = labels_t = None
    batched = False
    if points is not None or box is not None:
        pts = point_prompts(points, labels, box, image_hw, model_size, normalize_coords, strict)
        coords = torch.as_tensor(pts.coords, device=device)  # (B, N, 2)
        labels_t = torch.as_tensor(pts.labels, device=device)  # (B, N)
        batched = pts.batched
    mask_t = None
    if mask is not None:
        mask_t = torch.as_tensor(low_res_mask(mask, model_size // 4), device=device)  # (B, 1, S/4, S/4)
        batched = batched or mask_t.shape[0] > 1
        if coords is not None:
            check_mask_batch(mask_t.shape[0], coords.shape[0])
            if mask_t.shape[0] == 1 and coords.shape[0] > 1:
                mask_t = mask_t.expand(coords.shape[0], -1, -1, -1)
    return ModelPrompts(coords, labels_t, mask_t, batched)
