"""Host-side mask prompts and mask choice, in numpy: the decoder's single/multi-mask choice
(:class:`~samstream.model.mask_decoder.MaskDecoder`, :meth:`~samstream.model.sam2.SAM2Model.heads`),
which the decoder graph leaves to the host. Clicks, boxes and mask inputs follow
:mod:`samstream.prompt_rules`, the rules the PyTorch predictors use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from samstream.onnx.arrays import FLOAT, resize_bilinear, stability_scores
from samstream.prompt_rules import binary_mask as mask_rule


def binary_mask(mask: Any, size: int) -> np.ndarray:
    """A mask prompt (:func:`samstream.prompt_rules.binary_mask`: (H, W) bools or 0 / 1, any size) ->
    (1, 1, S, S) float32 of 0 / 1 at the model input size (an antialiased bilinear resize thresholded
    at 0.5), as :meth:`samstream.StreamTracker.add_mask` makes it."""
    m = mask_rule(mask).astype(FLOAT)[None, None]
    if m.shape[-2:] != (size, size):
        m = (resize_bilinear(m, (size, size), antialias=True) >= 0.5).astype(FLOAT)
    return m


@dataclass
class Heads:
    """The decoder's outputs after the host's choice (batch B, K masks)."""

    masks: np.ndarray  # (B, K, s, s) logits of the returned candidates
    ious: np.ndarray  # (B, K)
    best: np.ndarray  # (B, 1, s, s) the chosen mask (best IoU when K > 1)
    obj_ptr: np.ndarray  # (B, C) object pointer of the chosen mask
    scores: np.ndarray  # (B, 1) object-presence logits


def choose(masks: np.ndarray, ious: np.ndarray, scores: np.ndarray, ptrs: np.ndarray, multimask: bool,
           settings: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The decoder's returned masks (B, K, s, s), IoU (B, K) and pointer-token index (B,) from the
    outputs of all 4 tokens: tokens 1..3 for multi-mask output; else token 0, or the best of 1..3
    where token 0 is unstable (dynamic multi-mask)."""
    rows = np.arange(masks.shape[0])
    if multimask:
        token = ious[:, 1:].argmax(-1) + 1 if settings["use_multimask_token_for_obj_ptr"] else np.zeros_like(rows)
        return masks[:, 1:], ious[:, 1:], token
    single, single_iou = masks[:, :1], ious[:, :1]
    if settings["dynamic_multimask_via_stability"]:
        best = ious[:, 1:].argmax(-1) + 1
        stable = stability_scores(single, 0.0, settings["dynamic_multimask_stability_delta"])
        stable = stable >= settings["dynamic_multimask_stability_thresh"]  # (B, 1)
        single = np.where(stable[..., None, None], single, masks[rows, best][:, None])
        single_iou = np.where(stable, single_iou, ious[rows, best][:, None])
    return single, single_iou, np.zeros_like(rows)


def heads(masks: np.ndarray, ious: np.ndarray, scores: np.ndarray, ptrs: np.ndarray, multimask: bool,
          settings: dict[str, Any]) -> Heads:
    """:meth:`SAM2Model.heads` after the graph: absent objects' masks set to the no-object logit, the
    best candidate chosen, its object pointer taken."""
    out, out_iou, token = choose(masks, ious, scores, ptrs, multimask, settings)
    if settings["pred_obj_scores"]:
        out = np.where(scores[:, :, None, None] > 0, out, FLOAT(settings["no_object_score"]))
    rows = np.arange(masks.shape[0])
    best = out[rows, out_iou.argmax(-1)][:, None] if out.shape[1] > 1 else out
    return Heads(out, out_iou, best, ptrs[rows, token], scores)
