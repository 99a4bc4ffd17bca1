"""The rules of prompts, once, for the PyTorch predictors and trackers and for the onnxruntime host:
object ids, clicks with labels, boxes and low-resolution mask inputs checked and brought to the model
input's scale. numpy only (no torch), so the ONNX host uses it without PyTorch.

Coordinates are pixels of the original image (``normalize_coords=True``) or fractions of its width and
height (``False``). They are scaled in float32, dividing by (W, H) then multiplying by the model's input
size, the order the trackers have always used, so both hosts give the same numbers bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from samstream.errors import PromptError

__all__ = ["LOW_RES_DESCRIPTION", "MAX_OBJ_ID", "PointPrompts", "binary_mask", "check_mask_batch", "check_obj_id",
           "check_prompt_given", "low_res_mask", "point_prompts"]

MAX_OBJ_ID = 2**31 - 1  # object ids fit a signed 32-bit integer (label-map formats take fewer, see io/)
LOW_RES_DESCRIPTION = "a low-resolution logit mask (1, S/4, S/4), (S/4, S/4) or (B, 1, S/4, S/4)"
STRICT_LABELS = (0, 1)  # background, foreground
ALL_LABELS = (-1, 0, 1, 2, 3)  # also padding (-1) and box corners (2, 3), as the official API takes them
BOX_LABELS = (2, 3)  # a box is two points: its top-left and bottom-right corners


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


def check_prompt_given(points: Any, box: Any, mask: Any) -> None:
    """Refuse a prediction with no prompt at all."""
    if points is None and box is None and mask is None:
        raise PromptError("prompt: empty; give points (with labels), a box, a mask, or a combination")


@dataclass(frozen=True)
class PointPrompts:
    """Clicks and box corners at model input scale, batched over prompt sets (B)."""

    coords: np.ndarray  # (B, N, 2) float32 pixel coordinates at model input scale; box corners first
    labels: np.ndarray  # (B, N) int32
    batched: bool  # whether the caller gave a batch axis

    @property
    def batch_size(self) -> int:
        """The number of prompt sets, B."""
        return int(self.coords.shape[0])


def numbers(value: Any, name: str) -> np.ndarray:
    """``value`` as a float64 array of finite numbers, else a :class:`PromptError` naming ``name``."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor (maybe on a GPU), read without importing torch
        value = value.detach().cpu()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PromptError(f"{name}: cannot be read as numbers ({exc})") from exc
    if not np.all(np.isfinite(arr)):
        raise PromptError(f"{name}: contains NaN or infinite values")
    return arr


def _points(points: Any, labels: Any, allowed_labels: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, bool]:
    pts = numbers(points, "points")
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
    lab = numbers(labels, "labels")
    lab = lab[None] if lab.ndim == 1 and not batched else lab
    if lab.shape != pts.shape[:2]:
        raise PromptError(f"labels: shape {lab.shape} does not match points shape {pts.shape[:-1]}")
    if np.any(lab != np.round(lab)) or not np.all(np.isin(lab, allowed_labels)):
        bad = sorted(set(lab.ravel().tolist()) - set(allowed_labels))
        raise PromptError(f"labels: values {bad} not allowed; expected {list(allowed_labels)}")
    return pts, lab.astype(np.int32), batched


def _boxes(box: Any) -> tuple[np.ndarray, bool]:
    arr = numbers(box, "box")
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
        raise PromptError(f"{name}: coordinate ({coords[i][0]:g}, {coords[i][1]:g}) lies outside the {w}x{h} image "
                          f"(x in [0, {w}], y in [0, {h}])")


def point_prompts(points: Any, labels: Any, box: Any, image_hw: tuple[int, int], model_size: int,
                  normalize_coords: bool = True, strict: bool = True) -> PointPrompts:
    """Check clicks and boxes and bring them to the model input's scale.

    Args:
        points: (N, 2) or (B, N, 2) clicks (x, y), or None.
        labels: (N,) or (B, N), one per click: 1 foreground, 0 background.
        box: (4,) or (B, 4) XYXY, or None; it becomes two points labelled 2 and 3, before the clicks.
        image_hw: (H, W) of the original image.
        model_size: the model's square input size.
        normalize_coords: coordinates are pixels (True) or already fractions in [0, 1] (False).
        strict: the native API's rules (coordinates inside the image, labels 0 / 1, x0 <= x1 and
            y0 <= y1); False takes what the official API takes (compat).

    Returns:
        The prompt sets; a single box broadcasts over a batch of clicks and the other way round.

    Raises:
        PromptError: naming the argument, when a rule is broken or neither points nor box is given.
    """
    if points is None and box is None:
        raise PromptError("prompt: empty; give points (with labels) or a box")
    h, w = image_hw
    bounds = (h, w) if normalize_coords else (1, 1)
    parts_c, parts_l, batched = [], [], False
    if box is not None:
        boxes, batched = _boxes(box)
        corners = boxes.reshape(-1, 2, 2)
        if strict:
            _check_inside(corners, bounds, "box")
            if np.any(corners[:, 1] < corners[:, 0]):
                raise PromptError(f"box: {boxes[0].tolist()} is not XYXY with x0 <= x1 and y0 <= y1")
        parts_c.append(corners)
        parts_l.append(np.tile(np.array([BOX_LABELS], dtype=np.int32), (corners.shape[0], 1)))
    if points is not None:
        pts, lab, p_batched = _points(points, labels, STRICT_LABELS if strict else ALL_LABELS)
        if strict:
            _check_inside(pts, bounds, "points")
        parts_c.append(pts)
        parts_l.append(lab)
        batched = batched or p_batched
    if len(parts_c) == 2 and parts_c[0].shape[0] != parts_c[1].shape[0]:
        if min(parts_c[0].shape[0], parts_c[1].shape[0]) != 1:
            raise PromptError(f"box: batch of {parts_c[0].shape[0]} does not match points batch of "
                              f"{parts_c[1].shape[0]}")
        b = max(p.shape[0] for p in parts_c)
        parts_c = [np.repeat(p, b // p.shape[0], 0) for p in parts_c]
        parts_l = [np.repeat(p, b // p.shape[0], 0) for p in parts_l]
    coords = np.concatenate(parts_c, 1).astype(np.float32)  # (B, N, 2)
    if normalize_coords:  # pixels of the original image -> fractions
        coords = coords / np.array([w, h], dtype=np.float32)
    coords = coords * np.float32(model_size)
    return PointPrompts(coords.astype(np.float32), np.concatenate(parts_l, 1), batched)


def low_res_mask(mask: Any, side: int) -> np.ndarray:
    """A previous prediction's logits as a mask input: (1, s, s), (s, s) or (B, 1, s, s) -> (B, 1, s, s)
    float32, ``s`` = ``side`` (a quarter of the model's input size)."""
    arr = numbers(mask, "mask")
    if arr.ndim == 2:
        arr = arr[None, None]
    elif arr.ndim == 3:
        arr = arr[None] if arr.shape[0] == 1 else arr[:, None]
    if arr.ndim != 4 or arr.shape[1] != 1 or arr.shape[2:] != (side, side):
        raise PromptError(f"mask: shape {np.shape(mask)} is not {LOW_RES_DESCRIPTION} with S/4 = {side}")
    return arr.astype(np.float32)


def check_mask_batch(masks: int, prompt_sets: int) -> None:
    """A batch of ``masks`` mask inputs goes with ``prompt_sets`` sets of clicks: one each, or one for all."""
    if masks not in (1, prompt_sets):
        raise PromptError(f"mask: batch of {masks} does not match the {prompt_sets} prompt sets")


def binary_mask(mask: Any) -> np.ndarray:
    """An object's mask given as a prompt: an (H, W) array of bools or 0 / 1 numbers (any size) ->
    (H, W) bool. The trackers resize it to the model input themselves."""
    if hasattr(mask, "detach") and hasattr(mask, "cpu"):  # a torch tensor, read without importing torch
        mask = mask.detach().cpu()
    arr = np.asarray(mask)
    if arr.ndim != 2 or arr.size == 0:
        raise PromptError(f"mask: shape {arr.shape} is not a 2-D (H, W) mask")
    if arr.dtype != bool and (arr.dtype.kind not in "biuf" or not np.isin(arr, (0, 1)).all()):
        raise PromptError(f"mask: values must be boolean or 0/1, got dtype {arr.dtype}")
    return arr.astype(bool)
