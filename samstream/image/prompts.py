"""Validation and scaling of image prompts (points, labels, boxes, mask inputs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from samstream.errors import PromptError

LOW_RES_DESCRIPTION = "a low-resolution logit mask (1, S/4, S/4), (S/4, S/4) or (B, 1, S/4, S/4)"


@dataclass
class ModelPrompts:
    """Prompts at model input scale, batched over prompt sets (B)."""

    coords: Tensor | None  # (B, N, 2) float32 pixel coordinates at model input scale; boxes first
    labels: Tensor | None  # (B, N) int32
    mask: Tensor | None  # (B, 1, S/4, S/4) float32 logits
    batched: bool  # whether the caller gave a batch axis

    @property
    def batch_size(self) -> int:
        if self.coords is not None:
            return self.coords.shape[0]
        assert self.mask is not None
        return self.mask.shape[0]


MAX_OBJ_ID = 2**31 - 1  # object ids fit a signed 32-bit integer (label-map formats take fewer, see io/)


def check_obj_id(value: Any, name: str = "obj_id") -> int:
    """The one rule for object ids, in the API and on the command line: an integer in [0, 2**31 - 1].

    Formats that store ids as pixel values (indexed PNGs, DAVIS) hold ids 1..255 only; their writers
    check that separately and say so.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise PromptError(f"{name}: expected an integer object id, got {value!r}")
    if not 0 <= int(value) <= MAX_OBJ_ID:
        raise PromptError(f"{name}: object ids lie in [0, {MAX_OBJ_ID}], got {int(value)}")
    return int(value)


def _as_float_array(value: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value.detach().cpu() if isinstance(value, Tensor) else value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PromptError(f"{name}: cannot be read as numbers ({exc})") from exc
    if not np.all(np.isfinite(arr)):
        raise PromptError(f"{name}: contains NaN or infinite values")
    return arr


def _points(points: Any, labels: Any, allowed_labels: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, bool]:
    pts = _as_float_array(points, "points")
    if pts.ndim == 2 and pts.shape[1] == 2:
        pts, batched = pts[None], False
    elif pts.ndim == 3 and pts.shape[2] == 2:
        batched = True
    else:
        raise PromptError(f"points: shape {pts.shape} is not (N, 2) or (B, N, 2)")
    if pts.shape[1] == 0:
        raise PromptError("points: empty; give at least one point or pass points=None")
    if labels is None:
        raise PromptError("labels: required with points (1 = foreground, 0 = background)")
    lab = _as_float_array(labels, "labels")
    lab = lab[None] if lab.ndim == 1 and not batched else lab
    if lab.shape != pts.shape[:2]:
        raise PromptError(f"labels: shape {lab.shape} does not match points shape {pts.shape[:-1]}")
    if np.any(lab != np.round(lab)) or not np.all(np.isin(lab, allowed_labels)):
        bad = sorted(set(lab.ravel().tolist()) - set(allowed_labels))
        raise PromptError(f"labels: values {bad} not allowed; expected {list(allowed_labels)}")
    return pts, lab.astype(np.int32), batched


def _boxes(box: Any) -> tuple[np.ndarray, bool]:
    arr = _as_float_array(box, "box")
    if arr.shape == (4,):
        return arr[None], False
    if arr.ndim == 2 and arr.shape[1] == 4:
        return arr, True
    raise PromptError(f"box: shape {arr.shape} is not (4,) or (B, 4) in XYXY order")


def _check_inside(coords: np.ndarray, hw: tuple[int, int], name: str) -> None:
    h, w = hw
    x, y = coords[..., 0], coords[..., 1]
    outside = (x < 0) | (x > w) | (y < 0) | (y > h)
    if np.any(outside):
        i = tuple(int(v) for v in np.argwhere(outside)[0])
        raise PromptError(
            f"{name}: coordinate ({coords[i][0]:g}, {coords[i][1]:g}) lies outside the {w}x{h} image (x in [0, {w}], y in [0, {h}])"
        )


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
    """Check user prompts and bring them to model input scale.

    ``normalize_coords=True``: coordinates are pixels of the original image; ``False``: they are
    already fractions in [0, 1]. ``strict`` (the native API) rejects coordinates outside the image,
    labels other than 0/1 and inverted boxes.
    """
    if points is None and box is None and mask is None:
        raise PromptError("prompt: empty; give points (with labels), a box, a mask, or a combination")
    allowed = (0, 1) if strict else (-1, 0, 1, 2, 3)
    h, w = image_hw
    bounds = (h, w) if normalize_coords else (1, 1)
    parts_c, parts_l, batched = [], [], False
    if box is not None:
        boxes, b_batched = _boxes(box)
        corners = boxes.reshape(-1, 2, 2)
        if strict:
            _check_inside(corners, bounds, "box")
            if np.any(corners[:, 1] < corners[:, 0]):
                raise PromptError(f"box: {boxes[0].tolist()} is not XYXY with x0 <= x1 and y0 <= y1")
        parts_c.append(corners)
        parts_l.append(np.tile(np.array([[2, 3]], dtype=np.int32), (corners.shape[0], 1)))
        batched = b_batched
    if points is not None:
        pts, lab, p_batched = _points(points, labels, allowed)
        if strict:
            _check_inside(pts, bounds, "points")
        parts_c.append(pts)
        parts_l.append(lab)
        batched = batched or p_batched
    coords = labels_t = None
    if parts_c:
        if len(parts_c) == 2 and parts_c[0].shape[0] != parts_c[1].shape[0]:
            if parts_c[0].shape[0] == 1:
                parts_c[0] = np.repeat(parts_c[0], parts_c[1].shape[0], 0)
                parts_l[0] = np.repeat(parts_l[0], parts_c[1].shape[0], 0)
            elif parts_c[1].shape[0] == 1:
                parts_c[1] = np.repeat(parts_c[1], parts_c[0].shape[0], 0)
                parts_l[1] = np.repeat(parts_l[1], parts_c[0].shape[0], 0)
            else:
                raise PromptError(
                    f"box: batch of {parts_c[0].shape[0]} does not match points batch of {parts_c[1].shape[0]}"
                )
        coords = torch.as_tensor(np.concatenate(parts_c, 1).astype(np.float32), device=device)  # (B, N, 2)
        if normalize_coords:  # pixels of the original image -> fractions
            coords = coords / torch.tensor([w, h], dtype=torch.float32, device=device)
        coords = coords * model_size
        labels_t = torch.as_tensor(np.concatenate(parts_l, 1), device=device)
    mask_t = None
    if mask is not None:
        mask_t = _mask(mask, model_size // 4, device)
        batched = batched or mask_t.shape[0] > 1
        if coords is not None and mask_t.shape[0] not in (1, coords.shape[0]):
            raise PromptError(f"mask: batch of {mask_t.shape[0]} does not match the {coords.shape[0]} prompt sets")
        if coords is not None and mask_t.shape[0] == 1 and coords.shape[0] > 1:
            mask_t = mask_t.expand(coords.shape[0], -1, -1, -1)
    return ModelPrompts(coords, labels_t, mask_t, batched)


def _mask(mask: Any, side: int, device: torch.device) -> Tensor:
    arr = _as_float_array(mask, "mask")
    if arr.ndim == 2:
        arr = arr[None, None]
    elif arr.ndim == 3:
        arr = arr[None] if arr.shape[0] == 1 else arr[:, None]
    if arr.ndim != 4 or arr.shape[1] != 1 or arr.shape[2:] != (side, side):
        raise PromptError(f"mask: shape {np.shape(mask)} is not {LOW_RES_DESCRIPTION} with S/4 = {side}")
    return torch.as_tensor(arr.astype(np.float32), device=device)
