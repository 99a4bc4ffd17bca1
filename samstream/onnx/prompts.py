"""Host-side prompts and mask choice, in numpy: the rules of :mod:`samstream.image.prompts` and of the
decoder's single/multi-mask choice (:class:`~samstream.model.mask_decoder.MaskDecoder`,
:meth:`~samstream.model.sam2.SAM2Model.heads`), which the decoder graph leaves to the host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from samstream.errors import PromptError
from samstream.onnx.arrays import FLOAT, resize_bilinear, stability_scores


@dataclass
class Points:
    """Prompt sets at model input scale: coords (B, N, 2) float32 (box corners first), labels (B, N) int32."""

    coords: np.ndarray
    labels: np.ndarray
    batched: bool


def _numbers(value: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PromptError(f"{name}: cannot be read as numbers ({exc})") from exc
    if not np.all(np.isfinite(arr)):
        raise PromptError(f"{name}: contains NaN or infinite values")
    return arr


def _inside(coords: np.ndarray, hw: tuple[int, int], name: str) -> None:
    h, w = hw
    outside = (coords[..., 0] < 0) | (coords[..., 0] > w) | (coords[..., 1] < 0) | (coords[..., 1] > h)
    if np.any(outside):
        x, y = coords[tuple(np.argwhere(outside)[0])]
        raise PromptError(f"{name}: coordinate ({x:g}, {y:g}) lies outside the {w}x{h} image "
                          f"(x in [0, {w}], y in [0, {h}])")


def prepare_points(points: Any, labels: Any, box: Any, image_hw: tuple[int, int], model_size: int,
                   normalize_coords: bool = True) -> Points:
    """Check clicks (N, 2) / (B, N, 2) with labels and a box (4,) / (B, 4); scale to the model input."""
    if points is None and box is None:
        raise PromptError("points: give points with labels, or a box")
    bounds = image_hw if normalize_coords else (1, 1)
    parts_c, parts_l, batched = [], [], False
    if box is not None:
        arr = _numbers(box, "box")
        if arr.shape == (4,):
            arr = arr[None]
        elif arr.ndim == 2 and arr.shape[1] == 4:
            batched = True
        else:
            raise PromptError(f"box: shape {arr.shape} is not (4,) or (B, 4) in XYXY order")
        corners = arr.reshape(-1, 2, 2)
        _inside(corners, bounds, "box")
        if np.any(corners[:, 1] < corners[:, 0]):
            raise PromptError(f"box: {arr[0].tolist()} is not XYXY with x0 <= x1 and y0 <= y1")
        parts_c.append(corners)
        parts_l.append(np.tile(np.array([[2, 3]], dtype=np.int32), (corners.shape[0], 1)))
    if points is not None:
        pts = _numbers(points, "points")
        if pts.ndim == 2 and pts.shape[1] == 2:
            pts = pts[None]
        elif pts.ndim == 3 and pts.shape[2] == 2:
            batched = True
        else:
            raise PromptError(f"points: shape {pts.shape} is not (N, 2) or (B, N, 2)")
        if pts.shape[1] == 0:
            raise PromptError("points: empty; give at least one point or pass points=None")
        if labels is None:
            raise PromptError("labels: required with points (1 = foreground, 0 = background)")
        lab = _numbers(labels, "labels")
        lab = lab[None] if lab.ndim == 1 and pts.shape[0] == 1 else lab
        if lab.shape != pts.shape[:2]:
            raise PromptError(f"labels: shape {lab.shape} does not match points shape {pts.shape[:-1]}")
        if not np.all(np.isin(lab, (0, 1))):
            bad = sorted(set(lab.ravel().tolist()) - {0, 1})
            raise PromptError(f"labels: values {bad} not allowed; expected [0, 1]")
        _inside(pts, bounds, "points")
        parts_c.append(pts)
        parts_l.append(lab.astype(np.int32))
    if len(parts_c) == 2 and parts_c[0].shape[0] != parts_c[1].shape[0]:
        if min(parts_c[0].shape[0], parts_c[1].shape[0]) != 1:
            raise PromptError(f"box: batch of {parts_c[0].shape[0]} does not match points batch of "
                              f"{parts_c[1].shape[0]}")
        b = max(p.shape[0] for p in parts_c)
        parts_c = [np.repeat(p, b // p.shape[0], 0) for p in parts_c]
        parts_l = [np.repeat(p, b // p.shape[0], 0) for p in parts_l]
    coords = np.concatenate(parts_c, 1).astype(FLOAT)
    if normalize_coords:  # pixels of the original image -> fractions (float32, as the trackers do)
        h, w = image_hw
        coords = coords / np.array([w, h], dtype=FLOAT)
    return Points((coords * FLOAT(model_size)).astype(FLOAT), np.concatenate(parts_l, 1), batched)


def binary_mask(mask: Any, size: int) -> np.ndarray:
    """A mask prompt: an (H, W) array of bools or 0 / 1 values of any size -> (1, 1, S, S) float32 of 0 / 1
    at the model input size (an antialiased bilinear resize thresholded at 0.5), as
    :meth:`samstream.StreamTracker.add_mask` makes it."""
    arr = np.asarray(mask)
    if arr.ndim != 2 or arr.size == 0:
        raise PromptError(f"mask: shape {arr.shape} is not a 2-D (H, W) mask")
    if arr.dtype != bool and (arr.dtype.kind not in "biuf" or not np.isin(arr, (0, 1)).all()):
        raise PromptError(f"mask: values must be boolean or 0/1, got dtype {arr.dtype}")
    m = arr.astype(bool).astype(FLOAT)[None, None]
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
