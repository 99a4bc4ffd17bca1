"""Mask measures used to filter generated masks: stability, bounding boxes, small regions."""

from __future__ import annotations

import torch
from torch import Tensor

from samstream.errors import InvalidInputError
from samstream.image.postprocess import connected_components


def pixel_counts(masks: Tensor) -> Tensor:
    """(N, H, W) bool -> (N,) int32 number of set pixels.

    Counted a row at a time (in 16-bit integers where rows are at most 32,767 pixels wide) and
    then summed: on the CPU this is about three times faster than one 32-bit sum over both axes.
    """
    return row_counts(masks).sum(-1, dtype=torch.int32)


def row_counts(masks: Tensor) -> Tensor:
    """(N, H, W) bool -> (N, H) set pixels per row (int16 when a row fits, else int32)."""
    dtype = torch.int16 if masks.shape[-1] <= torch.iinfo(torch.int16).max else torch.int32
    return masks.sum(-1, dtype=dtype)


def stability_score(logits: Tensor, mask_threshold: float, offset: float) -> Tensor:
    """IoU of the masks ``logits > t + offset`` and ``logits > t - offset`` (the first lies inside the second).

    logits: (N, H, W) -> (N,) float32; NaN where both masks are empty (such masks never pass a
    positive threshold).
    """
    inner = pixel_counts(logits > (mask_threshold + offset))  # (N,)
    outer = pixel_counts(logits > (mask_threshold - offset))
    return inner / outer


def masks_to_boxes(masks: Tensor, rows_set: Tensor | None = None) -> Tensor:
    """(N, H, W) bool masks -> (N, 4) int64 XYXY boxes of the set pixels, inclusive max; 0s when empty.

    ``rows_set`` ((N, H) bool, whether each row has a set pixel) may be passed when already known.
    """
    n, h, w = masks.shape
    if n == 0:
        return torch.zeros(0, 4, dtype=torch.int64, device=masks.device)
    rows = masks.any(dim=2) if rows_set is None else rows_set  # (N, H)
    cols = masks.view(torch.uint8).amax(dim=1) > 0  # (N, W); a max along contiguous rows vectorises
    top = rows.int().argmax(dim=1)  # first set row
    bottom = h - 1 - rows.flip(1).int().argmax(dim=1)
    left = cols.int().argmax(dim=1)
    right = w - 1 - cols.flip(1).int().argmax(dim=1)
    boxes = torch.stack([left, top, right, bottom], dim=1).long()  # (N, 4)
    return boxes * rows.any(dim=1, keepdim=True)


def remove_small_regions(masks: Tensor, area_thresh: float, mode: str) -> tuple[Tensor, Tensor]:
    """Fill small holes (``mode="holes"``) or drop small islands (``mode="islands"``) of bool masks.

    A region is an 8-connected component of the background (holes, border-touching ones included)
    or of the foreground (islands) with fewer than ``area_thresh`` pixels. When every island of a
    mask is small, the largest one (the first in raster order among equals) is kept.

    masks: (N, H, W) bool. Returns the new masks and (N,) bool: whether each mask had a small region.
    """
    if mode not in ("holes", "islands"):
        raise InvalidInputError(f"mode must be 'holes' or 'islands', got {mode!r}")
    if masks.ndim != 3 or masks.dtype != torch.bool:
        raise InvalidInputError(f"masks must be a (N, H, W) bool tensor, got {tuple(masks.shape)} {masks.dtype}")
    n = masks.shape[0]
    if n == 0:
        return masks.clone(), torch.zeros(0, dtype=torch.bool, device=masks.device)
    region = ~masks if mode == "holes" else masks
    labels, areas = connected_components(region)  # (N, H, W) int32 each
    small = region & (areas < area_thresh)
    changed = small.flatten(1).any(dim=1)  # (N,)
    if mode == "holes":
        return masks | small, changed
    kept = masks & ~small
    # masks whose islands are all small keep their largest island
    lost = changed & ~kept.flatten(1).any(dim=1)
    if bool(lost.any()):
        flat_areas = areas[lost].flatten(1)  # (L, HW)
        first_largest = flat_areas.argmax(dim=1)  # first pixel (raster order) of a largest island
        lab = labels[lost].flatten(1)
        chosen = lab.gather(1, first_largest[:, None])  # (L, 1)
        kept[lost] = (lab == chosen).view(-1, *masks.shape[1:])
    return kept, changed
